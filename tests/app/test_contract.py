"""The invoke contract every client sees: headers, session ids, and errors before the stream starts."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from handler import events
from handler.app import create_app
from handler.contract import SESSION_ID, AgentRequest, Conversation, Turn
from handler.settings import Settings
from tests.app.expect import without_request_id
from tests.app.scripted import ScriptedBackend, ScriptedModel, Send
from tests.loopback import address, serve_in_thread

SESSION = "session-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def backend() -> ScriptedBackend:
    return ScriptedBackend([Send(b"data: 1\n\n"), Send(b"data: 2\n\n")])


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, tuple[str, ScriptedBackend | ScriptedModel]]]:
    """One app per kind of backend for the whole module, so hundreds of refusals start no server each."""
    backends = {"agent": ScriptedBackend([Send(b"data: never\n\n")]), "model": ScriptedModel()}
    with contextlib.ExitStack() as stack:
        yield {
            kind: (stack.enter_context(serve_in_thread(create_app(Settings(), backend, io.StringIO()))), backend)
            for kind, backend in backends.items()
        }


def recorded(backend: ScriptedBackend | ScriptedModel) -> list:
    return backend.opened if isinstance(backend, ScriptedBackend) else backend.asked


def post(base: str, **kwargs) -> httpx.Response:
    return httpx.post(base + "/invoke", timeout=5, **kwargs)


def test_a_good_request_streams_with_the_contract_headers(serve, backend):
    with serve(backend, cors_allow_origins=("https://app.example",)) as base:
        response = post(
            base, json={"prompt": "hello", "session_id": SESSION}, headers={"origin": "https://app.example"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-session-id"] == SESSION
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["access-control-expose-headers"] == "X-Session-Id"
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == b"data: 1\n\ndata: 2\n\n"
    assert backend.opened[-1] == AgentRequest({"prompt": "hello"}, SESSION)


def test_without_a_session_id_a_fresh_one_long_enough_for_agentcore_is_made(serve, backend):
    with serve(backend) as base:
        first = post(base, json={"prompt": "a"}).headers["x-session-id"]
        second = post(base, json={"prompt": "b"}).headers["x-session-id"]
    assert first != second
    assert len(first) >= 33
    assert SESSION_ID.fullmatch(first)
    assert backend.opened[-1] == AgentRequest({"prompt": "b"}, second)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidJson"),
        (b"\xff\xfe", "InvalidJson"),
        (b"[1, 2]", "InvalidJson"),
        (b'"prompt"', "InvalidJson"),
        (b'{"prompt": "hi", "session_id": "too-short"}', "InvalidSessionId"),
        (b'{"prompt": "hi", "session_id": 12345}', "InvalidSessionId"),
        (b'{"prompt": "hi", "session_id": "' + b"x" * 257 + b'"}', "InvalidSessionId"),
        (b'{"prompt": "hi", "session_id": "bad id with spaces 0123456789abcdef"}', "InvalidSessionId"),
    ],
)
@pytest.mark.parametrize("kind", ["agent", "model"])
def test_bad_requests_get_400_with_a_json_error_and_never_reach_the_backend(served, body, code, kind):
    base, backend = served[kind]
    before = len(recorded(backend))
    response = post(base, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert len(recorded(backend)) == before


ALTERNATING = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]
CALLED = [
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "tooluse_1", "name": "get_weather", "input": {}}]},
]
RESULT = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tooluse_1", "content": "sunny"}]}


@pytest.mark.parametrize(
    ("document", "code", "message"),
    [
        ({}, "InvalidPrompt", "'prompt' must be a non-empty string (or send 'messages')"),
        ({"prompt": ""}, "InvalidPrompt", None),
        ({"prompt": "   "}, "InvalidPrompt", None),
        ({"prompt": 42}, "InvalidPrompt", None),
        ({"prompt": "hi", "messages": ALTERNATING}, "InvalidMessages", "send 'prompt' or 'messages', not both"),
        ({"messages": []}, "InvalidMessages", "'messages' must be a non-empty list of {role, content} objects"),
        ({"messages": "hi"}, "InvalidMessages", None),
        ({"messages": ["hi"]}, "InvalidMessages", "'messages[0]' must be an object with 'role' and 'content'"),
        (
            {"messages": [{"role": "assistant", "content": "Hi"}]},
            "InvalidMessages",
            "'messages[0].role' must be 'user': messages alternate user, assistant, ..., starting with user",
        ),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            "InvalidMessages",
            "'messages[1].role' must be 'assistant': messages alternate user, assistant, ..., starting with user",
        ),
        ({"messages": ALTERNATING}, "InvalidMessages", "the last of 'messages' must be a user message"),
        (
            {"messages": [{"role": "user", "content": " "}]},
            "InvalidMessages",
            "'messages[0].content' must be a non-empty string or a list of text and tool_result blocks",
        ),
        (
            {"messages": [{"role": "system", "content": "x"}]},
            "InvalidMessages",
            "'messages[0].role' must be 'user': messages alternate user, assistant, ..., starting with user",
        ),
        (
            {"messages": [{"role": ("user", "assistant")[i % 2], "content": "x"} for i in range(101)]},
            "InvalidMessages",
            "'messages' has 101 messages; at most 100",
        ),
        (
            {"messages": [{"role": "user", "content": "x" * 200_001}]},
            "InvalidMessages",
            "'messages' hold 200001 characters of text; at most 200000",
        ),
        ({"prompt": "q", "max_tokens": 0}, "InvalidMaxTokens", "'max_tokens' must be a positive integer, not 0"),
        ({"prompt": "q", "max_tokens": "9"}, "InvalidMaxTokens", None),
        ({"prompt": "q", "max_tokens": True}, "InvalidMaxTokens", None),
        (
            {"prompt": "q", "temperature": 1.5},
            "InvalidTemperature",
            "'temperature' must be a number from 0 to 1, not 1.5",
        ),
        ({"prompt": "q", "top_p": -0.1}, "InvalidTopP", None),
        (
            {"prompt": "q", "max_token": 5},
            "UnknownField",
            "unknown field 'max_token'; allowed: max_tokens, messages, prompt, session_id, temperature, "
            "tool_choice, tools, top_p",
        ),
        (
            {"messages": [*CALLED, RESULT]},
            "InvalidTools",
            "'messages' hold tool calls or results: send the 'tools' they used",
        ),
        (
            {
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, RESULT],
                "tools": TOOLS,
            },
            "InvalidMessages",
            "a tool result answers 'tooluse_1', which no tool call in 'messages' made",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]},
            "InvalidMessages",
            "'messages[0].content[0]' is not one of the text and tool_result blocks a user message may hold",
        ),
        ({"prompt": "q", "tools": [{"name": "get weather"}]}, "InvalidTools", None),
        ({"prompt": "q", "tools": TOOLS, "tool_choice": "none"}, "InvalidTools", None),
        ({"prompt": "q", "tool_choice": "auto"}, "InvalidTools", None),
    ],
)
def test_a_model_request_that_breaks_a_rule_gets_a_400_naming_the_field(served, document, code, message):
    base, backend = served["model"]
    before = len(recorded(backend))
    response = post(base, json=document)
    assert response.status_code == 400
    assert response.json()["error"] == code
    if message is not None:
        assert response.json()["message"] == message
    assert len(recorded(backend)) == before


def test_a_conversation_and_its_settings_reach_the_model_backend(serve):
    backend = ScriptedModel([events.TextDelta("ok"), events.Done("end_turn")])
    messages = [*ALTERNATING, {"role": "user", "content": "Again"}]
    with serve(backend) as base:
        response = post(base, json={"messages": messages, "max_tokens": 64, "top_p": 0.5, "session_id": SESSION})
    assert response.status_code == 200
    assert response.headers["x-session-id"] == SESSION
    assert backend.asked == [
        Conversation(
            (Turn("user", ("Hi",)), Turn("assistant", ("Hello",)), Turn("user", ("Again",))), max_tokens=64, top_p=0.5
        )
    ]


def test_an_agent_gets_the_whole_request_object_but_the_session_id(serve):
    backend = ScriptedBackend([Send(b"data: 1\n\n")])
    document = {"input": {"question": "why?", "tools": ["search"]}, "user": {"tier": 2}, "session_id": SESSION}
    with serve(backend) as base:
        assert post(base, json=document).status_code == 200
    assert backend.opened == [
        AgentRequest({"input": {"question": "why?", "tools": ["search"]}, "user": {"tier": 2}}, SESSION)
    ]


TRACE_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("headers", "forwarded"),
    [
        ({"traceparent": TRACE_PARENT}, (TRACE_PARENT, None)),
        ({"traceparent": TRACE_PARENT, "tracestate": "congo=t61rcWkgMzE"}, (TRACE_PARENT, "congo=t61rcWkgMzE")),
        ({"traceparent": "00-not-a-trace-01", "tracestate": "congo=x"}, (None, None)),
        ({"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_a_valid_w3c_traceparent_is_handed_to_the_agent_and_a_malformed_one_ignored(serve, headers, forwarded):
    backend = ScriptedBackend([Send(b"data: 1\n\n")])
    with serve(backend) as base:
        assert post(base, json={"prompt": "q"}, headers=headers).status_code == 200
    (request,) = backend.opened
    assert (request.trace_parent, request.trace_state) == forwarded


def send_partially(base: str, headers: str, body: bytes) -> tuple[int, dict]:
    """Send a request head and part of a body, then read the answer without sending the rest."""
    head = f"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n\r\n"
    with socket.create_connection(address(base), timeout=5) as connection:
        connection.sendall(head.encode() + body)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        return answer.status, json.loads(answer.read())


def test_a_body_declared_over_the_limit_gets_413_before_any_of_it_is_sent(serve, backend):
    with serve(backend, max_body_bytes=1000) as base:
        status, error = send_partially(base, "Content-Length: 1000000000", b"")
    assert status == 413
    assert error["error"] == "PayloadTooLarge"


def test_a_chunked_body_gets_413_as_soon_as_it_passes_the_limit_without_waiting_for_the_rest(serve, backend):
    first_part = b"%x\r\n%s\r\n" % (5000, b"x" * 5000)
    with serve(backend, max_body_bytes=4096) as base:
        status, error = send_partially(base, "Transfer-Encoding: chunked", first_part)
    assert status == 413
    assert without_request_id(error) == {"error": "PayloadTooLarge", "message": "the body exceeds 4096 bytes"}


def test_a_body_at_the_limit_is_accepted(serve, backend):
    body = b'{"prompt": "' + b"x" * 86 + b'"}'
    assert len(body) == 100
    with serve(backend, max_body_bytes=100) as base:
        assert post(base, content=body).status_code == 200


def test_wrong_method_gets_405_and_unknown_path_404_as_json(serve, backend):
    with serve(backend) as base:
        wrong_method = httpx.get(base + "/invoke")
        unknown = httpx.post(base + "/nowhere", json={"prompt": "x"})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "MethodNotAllowed"
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "NotFound"


def test_cors_preflight_is_answered_without_touching_the_backend(serve):
    backend = ScriptedBackend([])
    with serve(backend, cors_allow_origins=("https://app.example",)) as base:
        response = httpx.options(
            base + "/invoke", headers={"origin": "https://app.example", "access-control-request-method": "POST"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert backend.opened == []


def test_healthz_answers_without_the_backend(serve):
    backend = ScriptedBackend([])
    with serve(backend) as base:
        response = httpx.get(base + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": "scripted"}
    assert backend.opened == []
