"""No crash path: hostile input and our own bugs end in a JSON error (with CORS) before the stream, or a
well-formed `event: error` and a properly ended body after it; never a plain-text 500 or a cut stream."""

from __future__ import annotations

import json

import httpx
import pytest

from handler import contract
from handler.backends.agentcore import AgentCoreBackend
from handler.backends.bedrock import BedrockBackend
from handler.upstream import Upstream
from tests.app.expect import without_request_id
from tests.app.scripted import ScriptedBackend, Send
from tests.fakes import FakeAgentCore, FakeBedrockRuntime
from tests.fakes.agentcore import error, json_answer
from tests.fakes.bedrock import converse

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"
LONE = "\ud800"


def events(body: bytes) -> list[tuple[str | None, dict]]:
    """Every event as (name, data); fails on anything but whole, valid UTF-8 JSON events."""
    parsed = []
    assert body.endswith(b"\n\n"), "the body ends at an event's end"
    for block in body.decode("utf-8").split("\n\n")[:-1]:
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line)
        if "data" in fields:
            parsed.append((fields.get("event"), json.loads(fields["data"])))
    return parsed


def test_json_nested_100000_levels_deep_is_a_400_json_error_with_cors(serve):
    backend = ScriptedBackend([])
    with serve(backend) as base:
        deep = b'{"prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        response = httpx.post(base + "/invoke", content=deep, headers={"origin": "https://site.example"})
    assert response.status_code == 400
    assert without_request_id(response.json()) == {"error": "InvalidJson", "message": "the body is nested too deeply"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert backend.opened == []


def test_a_lone_surrogate_in_an_upstream_error_message_is_a_clean_json_error(serve):
    with FakeAgentCore() as fake, serve(AgentCoreBackend(ARN, client=fake.client())) as base:
        fake.respond_with(error("ThrottlingException", f"slow {LONE} down"))
        response = httpx.post(base + "/invoke", json={"prompt": "q"}, headers={"origin": "https://site.example"})
    assert response.status_code == 429
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["message"] == "slow \ufffd down"


def test_a_lone_surrogate_in_a_models_text_arrives_replaced_and_the_stream_ends_normally(serve):
    with FakeBedrockRuntime() as fake, serve(BedrockBackend("some.model", client=fake.client())) as base:
        fake.respond_with(converse(["be", f"fore{LONE}", "after"]))
        body = httpx.post(base + "/invoke", json={"prompt": "q"}).content
    texts = [data["text"] for name, data in events(body) if name is None]
    assert texts == ["be", "fore\ufffd", "after"]
    assert events(body)[-1][0] == "done"


def test_a_lone_surrogate_in_an_agents_json_answer_arrives_replaced(serve):
    with FakeAgentCore() as fake, serve(AgentCoreBackend(ARN, client=fake.client())) as base:
        fake.respond_with(json_answer(b'{"text": "odd \\ud800 one"}'))
        body = httpx.post(base + "/invoke", json={"prompt": "q"}).content
    assert events(body) == [(None, {"text": "odd \ufffd one"})]


def test_a_bug_in_the_relay_mid_stream_ends_with_an_error_event_and_a_terminated_body(serve, access_log):
    # A backend handing over text instead of bytes: the writer fails on it.
    backend = ScriptedBackend([Send(b'data: {"n":1}\n\n'), Send("not bytes")])  # type: ignore[arg-type]
    with serve(backend) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "q"})
    assert response.status_code == 200
    (first, second) = events(response.content)
    assert first == (None, {"n": 1})
    assert second[0] == "error"
    assert without_request_id(second[1]) == {
        "error": "InternalError",
        "message": "the app failed; the log has the detail",
    }
    (line,) = access_log.records()
    assert (line["outcome"], line["error"]) == ("upstream_error", "InternalError")
    assert "TypeError" in line["error_detail"]


class NoMediaType:
    name = "broken"

    async def ready(self) -> str | None:
        return None

    async def open(self, request: contract.AgentRequest) -> Upstream:
        return Upstream(None, iter([]))  # type: ignore[arg-type]


def test_a_bug_in_the_relay_before_the_stream_is_a_json_500_with_cors(serve):
    with serve(NoMediaType()) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "q"}, headers={"origin": "https://site.example"})
    assert response.status_code == 500
    assert without_request_id(response.json())["error"] == "InternalError"
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_bug_outside_the_relay_is_a_json_500_with_cors_not_a_plain_text_one(serve, monkeypatch, access_log):
    def broken(body: bytes, headers: object) -> contract.AgentRequest:
        raise RuntimeError("a bug")

    monkeypatch.setattr(contract, "parse_agent_request", broken)
    with serve(ScriptedBackend([])) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "q"}, headers={"origin": "https://site.example"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    assert without_request_id(response.json())["error"] == "InternalError"
    assert access_log.records()[0]["status"] == 500


@pytest.mark.parametrize("text", [LONE, "\udfff", f"pair {LONE}\udc00 ok"])
def test_sse_events_are_always_valid_utf8(text):
    from handler.sse import event

    event({"text": text}).decode("utf-8")
