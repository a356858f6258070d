"""The OpenAI-compatible endpoint, spoken to by the official `openai` SDK: the app on loopback, its bedrock
backend on real boto3 against the loopback ConverseStream (real event-stream frames), and the demo backend."""

from __future__ import annotations

import io
import json
import time

import httpx
import openai
import pytest

from handler import events
from handler.app import create_app
from handler.backends.bedrock import BedrockBackend, ModelSettings
from handler.backends.demo import DemoBackend
from handler.settings import Settings
from tests.app.expect import without_request_id
from tests.app.scripted import ScriptedModel
from tests.fakes import FakeBedrockRuntime, Pause
from tests.fakes.bedrock import Reasoning, Text, ToolUse, answer, converse, error
from tests.loopback import serve_in_thread

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
STACK = ModelSettings(system_prompt="Answer briefly.", max_tokens=1000)
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(scope="module")
def fake():
    with FakeBedrockRuntime() as server:
        yield server


@pytest.fixture(scope="module")
def base(fake):
    backend = BedrockBackend(MODEL, STACK, client=fake.client())
    settings = Settings(backend="bedrock", model_id=MODEL, max_tokens=1000, heartbeat_seconds=60)
    with serve_in_thread(create_app(settings, backend, io.StringIO())) as url:
        yield url


@pytest.fixture
def client(base):
    # No retries: a test must see the first answer, and a retried prompt would be billed twice.
    with openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=10) as sdk:
        yield sdk


def weather_answer(**options) -> object:
    return answer(
        [
            Reasoning(["Paris, ", "so Celsius."]),
            Text(["Checking ", "now."]),
            ToolUse("tooluse_1", "get_weather", ['{"city": ', '"Paris"}']),
            ToolUse("tooluse_2", "get_time", ["{}"]),
        ],
        **{"stop_reason": "tool_use", "usage": (25, 40), **options},
    )


def test_a_stream_carries_content_reasoning_tool_calls_finish_reason_and_usage(fake, client):
    fake.respond_with(weather_answer())
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    *answer_chunks, usage_chunk = chunks
    deltas = [chunk.choices[0].delta for chunk in answer_chunks]
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    assert deltas[0].role == "assistant"
    assert "".join(delta.content or "" for delta in deltas) == "Checking now."
    assert "".join(getattr(delta, "reasoning_content", None) or "" for delta in deltas) == "Paris, so Celsius."
    calls = [call for delta in deltas for call in delta.tool_calls or []]
    assert [(call.index, call.id, call.function.name) for call in calls if call.id] == [
        (0, "tooluse_1", "get_weather"),
        (1, "tooluse_2", "get_time"),
    ]
    arguments = ["".join(call.function.arguments or "" for call in calls if call.index == i) for i in (0, 1)]
    assert [json.loads(text) for text in arguments] == [{"city": "Paris"}, {}]
    assert [chunk.choices[0].finish_reason for chunk in answer_chunks][-1] == "tool_calls"
    assert usage_chunk.choices == []
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens, usage_chunk.usage.total_tokens) == (
        25,
        40,
        65,
    )


def test_without_include_usage_no_usage_chunk_is_sent_and_the_wire_ends_with_done(fake, base):
    fake.respond_with(converse(["Hi"]))
    body = httpx.post(
        base + "/v1/chat/completions", json={"model": MODEL, "messages": QUESTION, "stream": True}
    ).content
    events = body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all("usage" not in chunk for chunk in chunks)
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_whole_completion_has_the_message_reasoning_tool_calls_and_usage(fake, client):
    fake.respond_with(weather_answer())
    completion = client.chat.completions.create(model=MODEL, messages=QUESTION)
    (choice,) = completion.choices
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert choice.message.content == "Checking now."
    assert choice.message.reasoning_content == "Paris, so Celsius."  # type: ignore[attr-defined]
    assert [
        (call.id, call.function.name, json.loads(call.function.arguments)) for call in choice.message.tool_calls
    ] == [
        ("tooluse_1", "get_weather", {"city": "Paris"}),
        ("tooluse_2", "get_time", {}),
    ]
    assert choice.finish_reason == "tool_calls"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (25, 40)


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_the_stop_reason_maps_to_openais_finish_reason(fake, client, stop_reason, finish_reason):
    fake.respond_with(answer([Text(["x"])], stop_reason=stop_reason))
    assert client.chat.completions.create(model=MODEL, messages=QUESTION).choices[0].finish_reason == finish_reason


def test_the_conversation_reaches_bedrock_with_system_messages_after_the_stacks_prompt(fake, client):
    fake.respond_with(converse(["ok"]))
    client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "Paris?"}]},
            {"role": "user", "content": "In Celsius."},
        ],
        max_completion_tokens=200,
        temperature=0.5,
        stop=["END"],
    )
    assert json.loads(fake.last.request.body) == {
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}]},
            {"role": "assistant", "content": [{"text": "Hello!"}]},
            {"role": "user", "content": [{"text": "Paris?"}, {"text": "In Celsius."}]},
        ],
        "system": [{"text": "Answer briefly."}, {"text": "You are a weather bot."}],
        "inferenceConfig": {"maxTokens": 200, "temperature": 0.5, "stopSequences": ["END"]},
    }


@pytest.mark.parametrize(
    ("code", "raised", "status"),
    [
        ("ValidationException", openai.BadRequestError, 400),
        ("AccessDeniedException", openai.PermissionDeniedError, 403),
        ("ResourceNotFoundException", openai.NotFoundError, 404),
        ("ThrottlingException", openai.RateLimitError, 429),
        ("ModelTimeoutException", openai.InternalServerError, 502),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_model_refusals_raise_the_sdks_matching_error(fake, client, code, raised, status, stream):
    fake.respond_with(error(code, "the model said no"))
    with pytest.raises(raised) as caught:
        client.chat.completions.create(model=MODEL, messages=QUESTION, stream=stream)
    assert caught.value.status_code == status
    assert without_request_id(caught.value.body) == {
        "message": "the model said no",
        "type": openai_type(status),
        "param": None,
        "code": code,
    }


def openai_type(status: int) -> str:
    return {400: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error"}.get(
        status, {429: "rate_limit_error"}.get(status, "api_error")
    )


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
TOOL_TURNS = [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "tooluse_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "tooluse_1", "content": "18 °C, sunny"},
]
BAD_ARGUMENTS = {
    **TOOL_TURNS[0],
    "tool_calls": [{"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "Paris"}}],
}


@pytest.mark.parametrize(
    ("request_", "status", "param"),
    [
        ({"model": "gpt-4o"}, 404, "model"),
        ({"max_tokens": 1001}, 400, "max_tokens"),
        ({"max_completion_tokens": 0}, 400, "max_completion_tokens"),
        ({"temperature": 1.5}, 400, "temperature"),
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, 400, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            400,
            "messages[0].content",
        ),
        ({"messages": [{"role": "critic", "content": "42"}]}, 400, "messages[0].role"),
        ({"messages": [{"role": "tool", "content": "42"}]}, 400, "messages[0].tool_call_id"),
        ({"messages": [*QUESTION, *TOOL_TURNS]}, 400, "tools"),
        ({"messages": [*QUESTION, *TOOL_TURNS[1:]], "tools": TOOLS}, 400, "messages"),
        (
            {"messages": [*QUESTION, BAD_ARGUMENTS, TOOL_TURNS[1]], "tools": TOOLS},
            400,
            "messages[1].tool_calls[0].function.arguments",
        ),
        ({"tools": [{"type": "function", "function": {"name": "get weather"}}]}, 400, "tools[0].function.name"),
        ({"tools": TOOLS, "tool_choice": "none"}, 400, "tool_choice"),
        ({"tool_choice": "auto"}, 400, "tool_choice"),
        ({"response_format": {"type": "json_object"}}, 400, "response_format"),
        ({"n": 2}, 400, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
    ],
)
def test_requests_it_cannot_honour_are_refused_naming_the_parameter(fake, client, request_, status, param):
    before = len(fake.exchanges)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(**{"model": MODEL, "messages": QUESTION, **request_})
    assert caught.value.status_code == status
    assert caught.value.body["param"] == param
    assert caught.value.body["message"]
    assert len(fake.exchanges) == before, "the model was called"


def test_a_body_that_is_not_json_or_too_large_gets_an_openai_error_object(base):
    not_json = httpx.post(base + "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400
    assert {"error": without_request_id(not_json.json()["error"])} == {
        "error": {
            "message": "the body must be a JSON object",
            "type": "invalid_request_error",
            "param": None,
            "code": "InvalidJson",
        }
    }
    unknown = httpx.get(base + "/v1/embeddings")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "NotFound"


def test_a_failure_mid_stream_raises_in_the_sdk_after_the_content_so_far(fake, client):
    fake.respond_with(converse(["par", "tial"], exception=("throttlingException", "slow down")))
    received = []

    def read_all() -> None:
        for chunk in client.chat.completions.create(model=MODEL, messages=QUESTION, stream=True):
            received.append(chunk.choices[0].delta.content)

    with pytest.raises(openai.APIError) as caught:
        read_all()
    assert received == ["", "par", "tial"]
    assert caught.value.message == "slow down"
    assert without_request_id(caught.value.body) == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "throttlingException",
    }


def test_the_models_list_names_the_one_model_this_deployment_answers_with(client):
    assert [(model.id, model.object, model.owned_by) for model in client.models.list()] == [
        (MODEL, "model", "streamgate")
    ]


def test_a_client_that_leaves_a_whole_completion_early_stops_the_model(fake, base):
    fake.respond_with(converse(["a", Pause(20), "b"]))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(base + "/v1/chat/completions", json={"model": MODEL, "messages": QUESTION}, timeout=0.5)
    left_at = time.perf_counter()
    assert fake.last.disconnected.wait(5), "the model connection stayed open"
    assert fake.last.disconnected_at - left_at < 0.5


def test_the_demo_backend_speaks_the_same_endpoint(serve):
    with serve(DemoBackend(0)) as url, openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as sdk:
        (model,) = sdk.models.list()
        chunks = list(
            sdk.chat.completions.create(
                model=model.id, messages=QUESTION, stream=True, stream_options={"include_usage": True}
            )
        )
        whole = sdk.chat.completions.create(model="demo", messages=QUESTION, max_tokens=3)
    assert model.id == "demo"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks[:-1]).startswith("Once upon a time")
    assert chunks[-1].usage.prompt_tokens == 3
    assert (whole.choices[0].message.content, whole.choices[0].finish_reason) == ("Once upon a ", "length")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/invoke", {"prompt": "q"}),
        ("/v1/chat/completions", {"model": "scripted-model-v1", "messages": QUESTION, "stream": True}),
        ("/v1/chat/completions", {"model": "scripted-model-v1", "messages": QUESTION}),
    ],
    ids=["native", "openai-stream", "openai-whole"],
)
def test_the_answers_token_usage_reaches_the_access_log_in_every_wire_format(serve, access_log, path, body):
    backend = ScriptedModel([events.TextDelta("hi"), events.Done("end_turn", events.Usage(12, 34, 46), 80)])
    with serve(backend) as base:
        assert httpx.post(base + path, json=body).status_code == 200
    (line,) = access_log.records()
    assert (line["InputTokens"], line["OutputTokens"]) == (12, 34)


def test_a_tool_loop_reaches_bedrock_as_tool_config_tool_use_and_tool_result_blocks(fake, client):
    fake.respond_with(answer([ToolUse("tooluse_1", "get_weather", ['{"city": "Paris"}'])], stop_reason="tool_use"))
    first = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required")
    (call,) = first.choices[0].message.tool_calls
    assert (first.choices[0].finish_reason, call.id, call.function.name) == ("tool_calls", "tooluse_1", "get_weather")
    spec = {
        "toolSpec": {
            "name": "get_weather",
            "inputSchema": {"json": TOOLS[0]["function"]["parameters"]},
            "description": "The weather in a city",
        }
    }
    assert json.loads(fake.last.request.body)["toolConfig"] == {"tools": [spec], "toolChoice": {"any": {}}}

    fake.respond_with(converse(["18 °C and sunny in Paris."]))
    called = {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]}
    result = {"role": "tool", "tool_call_id": call.id, "content": "18 °C, sunny"}
    client.chat.completions.create(model=MODEL, messages=[*QUESTION, called, result], tools=TOOLS)
    sent = json.loads(fake.last.request.body)
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "18 °C, sunny"}], "status": "success"}}
            ],
        },
    ]
    assert sent["toolConfig"] == {"tools": [spec]}
