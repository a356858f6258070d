"""The bedrock backend through real boto3 to a loopback ConverseStream: one SSE event per text delta."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest

from handler.backends.bedrock import BedrockBackend, Guardrail, ModelSettings
from handler.settings import ConfigError, Settings
from tests.app.expect import without_request_id
from tests.fakes import FakeBedrockRuntime, Pause, Until, eventstream, lockstep
from tests.fakes.bedrock import Reasoning, Text, ToolUse, answer, converse, error, frames
from tests.loopback import lockstep_chunks, serve_process

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
# A long grace for the spawned app: these tests are not about it, and a loaded machine may open slowly.
BEDROCK_ENV = {"BACKEND": "bedrock", "MODEL_ID": MODEL, "OPEN_GRACE_SECONDS": "10"}


@pytest.fixture
def fake():
    with FakeBedrockRuntime() as server:
        yield server


@pytest.fixture
def app(fake, serve):
    with serve(BedrockBackend(MODEL, client=fake.client()), heartbeat_seconds=60) as base:
        yield base


def events_of(body: bytes) -> list[tuple[str | None, dict]]:
    events = []
    for block in body.decode().split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(fields["data"])
        events.append((fields.get("event"), without_request_id(data) if fields.get("event") == "error" else data))
    return events


def test_each_text_delta_becomes_an_event_then_a_summary_with_stop_reason_usage_and_latency(fake, app):
    fake.respond_with(converse(["Hel", "lo", " wörld"], delay=0.01, stop_reason="end_turn", input_tokens=7))
    response = httpx.post(app + "/invoke", json={"prompt": "Say hello"})
    assert response.status_code == 200
    assert events_of(response.content) == [
        (None, {"type": "text", "text": "Hel"}),
        (None, {"type": "text", "text": "lo"}),
        (None, {"type": "text", "text": " wörld"}),
        (
            "done",
            {
                "type": "done",
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
                "latency_ms": 100,
            },
        ),
    ]
    request = fake.last.request
    assert request.params["modelId"] == MODEL
    assert json.loads(request.body)["messages"] == [{"role": "user", "content": [{"text": "Say hello"}]}]


def test_deltas_reach_the_client_as_the_model_emits_them(fake, app):
    # Lock-step (see `Until`): the model sends its next event once the client has delta i, so a delta held
    # back arrives after the model's next event left, whatever the load; `make bench` times the lag.
    seen = [threading.Event() for _ in range(10)]
    fake.respond_with(converse(lockstep([f"t{i} " for i in range(10)], seen)))
    with httpx.stream("POST", app + "/invoke", json={"prompt": "go"}) as response:
        chunks = lockstep_chunks(response, seen, carries=lambda chunk: b'"type":"text"' in chunk)
    fake.last.done.wait(2)
    sent = [at for at, _ in fake.last.sent_at]
    delta_sent = [i for i, (_, data) in enumerate(fake.last.sent_at) if b"contentBlockDelta" in data]
    delta_arrived = [at for at, chunk in chunks if b'"type":"text"' in chunk]
    assert len(delta_arrived) == len(delta_sent) == 10
    held = [n for n, (arrived, i) in enumerate(zip(delta_arrived, delta_sent, strict=True)) if arrived >= sent[i + 1]]
    assert not held, f"deltas {held} were held back until the model sent its next event"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ThrottlingException", 429),
        ("ModelTimeoutException", 502),
    ],
)
def test_model_errors_before_the_stream_become_the_matching_status(fake, app, code, status):
    fake.respond_with(error(code, "nope"))
    response = httpx.post(app + "/invoke", json={"prompt": "q"})
    assert (response.status_code, without_request_id(response.json())) == (status, {"error": code, "message": "nope"})


def test_an_exception_event_mid_stream_ends_with_an_error_event_after_the_deltas(fake, app):
    fake.respond_with(converse(["a", "b"], exception=("modelStreamErrorException", "the model tripped")))
    events = events_of(httpx.post(app + "/invoke", json={"prompt": "q"}).content)
    assert events == [
        (None, {"type": "text", "text": "a"}),
        (None, {"type": "text", "text": "b"}),
        ("error", {"error": "modelStreamErrorException", "message": "the model tripped"}),
    ]


def test_a_dropped_connection_mid_stream_ends_with_an_error_event(fake, app):
    fake.respond_with(converse(["a"], abort=True))
    events = events_of(httpx.post(app + "/invoke", json={"prompt": "q"}).content)
    assert events[0] == (None, {"type": "text", "text": "a"})
    assert events[-1][0] == "error"
    assert events[-1][1]["error"] == "UpstreamInterrupted"


def test_a_client_that_leaves_closes_the_model_connection_promptly(fake, app):
    fake.respond_with(converse(["first", Pause(20), "never"]))
    with httpx.stream("POST", app + "/invoke", json={"prompt": "q"}) as response:
        next(response.iter_raw())
        left_at = time.perf_counter()
    assert fake.last.disconnected.wait(5), "the model connection stayed open"
    assert fake.last.disconnected_at - left_at < 0.5


def test_python_m_handler_reaches_bedrock_through_the_endpoint_variable(fake):
    fake.respond_with(converse(["from the fake"]))
    with serve_process(BEDROCK_ENV | fake.env) as (base, _):
        events = events_of(httpx.post(base + "/invoke", json={"prompt": "q"}).content)
    assert events[0] == (None, {"type": "text", "text": "from the fake"})
    assert events[-1][0] == "done"


def test_fifty_concurrent_streams_all_start_before_any_finishes(fake):
    """No pool (of worker threads, of connections) makes a stream wait for another's model to finish."""
    # Every model holds its second delta until all fifty clients have their first (or 20 s pass): a pool
    # smaller than fifty shows as streams that start only after others finished, however slow the machine.
    all_started = threading.Event()
    fake.respond_with(converse(["a", Until(all_started, timeout=20), "b"]))
    started = 0

    async def one(client: httpx.AsyncClient) -> tuple[float, float]:
        nonlocal started
        async with client.stream("POST", app + "/invoke", json={"prompt": "q"}) as response:
            chunks = response.aiter_raw()
            while b'"type":"text"' not in await anext(chunks):
                pass  # the comment of a response committed by the open grace is not the model's first word
            first = time.perf_counter()
            started += 1
            if started == 50:
                all_started.set()
            async for _ in chunks:
                pass
            return first, time.perf_counter()

    async def crowd() -> list[tuple[float, float]]:
        async with httpx.AsyncClient(timeout=40, limits=httpx.Limits(max_connections=60)) as client:
            return await asyncio.gather(*(one(client) for _ in range(50)))

    with serve_process(BEDROCK_ENV | fake.env) as (app, _):
        timings = asyncio.run(crowd())
    last_start = max(first for first, _ in timings)
    assert last_start < min(finished for _, finished in timings)
    # Not even by luck: a model that gave up waiting (its second delta out before the last stream
    # started) means some stream could not start while the others were open.
    second_deltas = [[at for at, data in e.sent_at if b"contentBlockDelta" in data][1] for e in fake.exchanges]
    assert len(second_deltas) == 50
    assert last_start < min(second_deltas), "a stream started only once a model had stopped waiting for it"


def test_a_stream_that_ends_before_message_stop_is_reported_as_interrupted_not_done(fake, app):
    delta = {"delta": {"text": "half"}, "contentBlockIndex": 0}
    fake.respond_with(
        frames(
            [eventstream.event("messageStart", {"role": "assistant"}), eventstream.event("contentBlockDelta", delta)]
        )
    )
    events = events_of(httpx.post(app + "/invoke", json={"prompt": "q"}).content)
    assert events[0] == (None, {"type": "text", "text": "half"})
    assert events[-1] == (
        "error",
        {"error": "UpstreamInterrupted", "message": "the model stream ended before its messageStop event"},
    )


def test_reasoning_text_and_tool_use_each_become_their_own_event_in_order(fake, app):
    fake.respond_with(
        answer(
            [
                Reasoning(["The user wants ", "the weather."]),
                Text(["Let me check."]),
                ToolUse("tooluse_kW2", "get_weather", ['{"city":', ' "Paris"}']),
            ],
            stop_reason="tool_use",
            usage=(31, 42),
            latency_ms=812,
        )
    )
    events = events_of(httpx.post(app + "/invoke", json={"prompt": "Weather in Paris?"}).content)
    assert events == [
        (None, {"type": "reasoning", "text": "The user wants "}),
        (None, {"type": "reasoning", "text": "the weather."}),
        (None, {"type": "text", "text": "Let me check."}),
        (None, {"type": "tool_use_start", "index": 2, "id": "tooluse_kW2", "name": "get_weather"}),
        (None, {"type": "tool_use_delta", "index": 2, "input": '{"city":'}),
        (None, {"type": "tool_use_delta", "index": 2, "input": ' "Paris"}'}),
        (None, {"type": "tool_use_stop", "index": 2}),
        (
            "done",
            {
                "type": "done",
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 31, "output_tokens": 42, "total_tokens": 73},
                "latency_ms": 812,
            },
        ),
    ]


def test_a_guardrail_intervention_ends_the_stream_with_its_own_event(fake, app):
    blocked = "Sorry, I can't help with that."
    fake.respond_with(answer([Text([blocked])], stop_reason="guardrail_intervened", usage=(5, 0), latency_ms=90))
    events = events_of(httpx.post(app + "/invoke", json={"prompt": "something forbidden"}).content)
    assert events == [
        (None, {"type": "text", "text": blocked}),
        (
            "guardrail",
            {
                "type": "guardrail",
                "stop_reason": "guardrail_intervened",
                "usage": {"input_tokens": 5, "output_tokens": 0, "total_tokens": 5},
                "latency_ms": 90,
            },
        ),
    ]


def test_a_conversation_reaches_the_model_as_turns_under_the_stacks_settings(fake, serve):
    settings = ModelSettings(
        system_prompt="You are terse.",
        max_tokens=500,
        temperature=0.2,
        top_p=0.9,
        guardrail=Guardrail("gr0abc123", "3", "async"),
        request_fields='{"thinking":{"type":"enabled","budget_tokens":1024}}',
    )
    fake.respond_with(converse(["ok"]))
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Shorter, please."},
    ]
    with serve(BedrockBackend(MODEL, settings, client=fake.client()), max_tokens=500) as base:
        response = httpx.post(base + "/invoke", json={"messages": messages, "max_tokens": 100, "temperature": 0})
    assert response.status_code == 200
    assert json.loads(fake.last.request.body) == {
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}]},
            {"role": "assistant", "content": [{"text": "Hello! How can I help?"}]},
            {"role": "user", "content": [{"text": "Shorter, please."}]},
        ],
        "system": [{"text": "You are terse."}],
        # The request lowered max_tokens and temperature; top_p stays the stack's.
        "inferenceConfig": {"maxTokens": 100, "temperature": 0.0, "topP": 0.9},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "guardrailConfig": {
            "guardrailIdentifier": "gr0abc123",
            "guardrailVersion": "3",
            "streamProcessingMode": "async",
        },
    }


def test_without_stack_settings_the_call_carries_only_the_conversation(fake, app):
    fake.respond_with(converse(["ok"]))
    httpx.post(app + "/invoke", json={"prompt": "q"})
    assert set(json.loads(fake.last.request.body)) == {"messages"}


def test_a_request_may_not_raise_max_tokens_above_the_stacks(fake, serve):
    with serve(BedrockBackend(MODEL, ModelSettings(max_tokens=500), client=fake.client()), max_tokens=500) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "q", "max_tokens": 501})
    assert response.status_code == 400
    assert without_request_id(response.json()) == {
        "error": "InvalidMaxTokens",
        "message": "'max_tokens' must be an integer from 1 to 500 (this stack's maxTokens), not 501",
    }
    assert fake.exchanges == []


def test_the_model_settings_come_from_the_apps_environment():
    settings = Settings.from_env(
        {
            "SYSTEM_PROMPT": "Be kind.",
            "MAX_TOKENS": "800",
            "TEMPERATURE": "0.3",
            "TOP_P": "1",
            "GUARDRAIL_IDENTIFIER": "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr0abc123",
            "GUARDRAIL_VERSION": "DRAFT",
            "MODEL_REQUEST_FIELDS": '{"thinking": {"type": "enabled", "budget_tokens": 1024}}',
        }
    )
    assert ModelSettings.from_settings(settings) == ModelSettings(
        "Be kind.",
        800,
        0.3,
        1.0,
        Guardrail("arn:aws:bedrock:us-east-1:123456789012:guardrail/gr0abc123", "DRAFT"),
        '{"thinking": {"type": "enabled", "budget_tokens": 1024}}',
    )
    with pytest.raises(ConfigError, match=r"^MODEL_REQUEST_FIELDS='\[\]' is not a JSON object$"):
        Settings.from_env({"MODEL_REQUEST_FIELDS": "[]"})


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def test_a_native_tool_loop_reaches_bedrock_as_tool_config_tool_use_and_tool_result_blocks(fake, app):
    fake.respond_with(converse(["18 °C and sunny."]))
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tooluse_1", "content": "18 °C, sunny"}]},
    ]
    body = {"messages": messages, "tools": [WEATHER_TOOL], "tool_choice": "get_weather"}
    assert httpx.post(app + "/invoke", json=body).status_code == 200
    sent = json.loads(fake.last.request.body)
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18 °C, sunny"}], "status": "success"}}
            ],
        },
    ]
    assert sent["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "inputSchema": {"json": WEATHER_TOOL["input_schema"]},
                    "description": "The weather in a city",
                }
            }
        ],
        "toolChoice": {"tool": {"name": "get_weather"}},
    }
