"""The open grace, through a stand-in for API Gateway + CloudFront (EDGE timing, scaled down 50x).

An upstream that answers within the grace gets today's response; one still opening after it gets a
committed SSE stream at once, so nothing in front of the app gives up waiting for a first byte.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial

import httpx
import pytest

from handler.backends.agentcore import AgentCoreBackend
from handler.upstream import UpstreamError
from tests.app.expect import without_request_id
from tests.app.scripted import Pause, ScriptedBackend, Send
from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import sse, sse_event
from tests.fakes.api_gateway import EDGE
from tests.loopback import eventually

PROMPT = {"prompt": "go"}
# EDGE / 50: CloudFront waits 0.6 s for a first byte, streams are cut after 0.6 s without one.
TIMING = EDGE.scaled(1 / 50)
GRACE, HEARTBEAT = 0.15, 0.3
ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"


@pytest.fixture
def edge(through_gateway):
    """edge(backend) -> the app behind the EDGE stand-in, with a short grace and heartbeat."""
    return partial(through_gateway, timing=TIMING, open_grace_seconds=GRACE, heartbeat_seconds=HEARTBEAT)


def events_of(body: bytes) -> list[bytes]:
    return [event for event in body.split(b"\n\n") if event]


def test_an_upstream_that_opens_within_the_grace_is_answered_as_before(edge, access_log):
    backend = ScriptedBackend([Send(b"data: hi\n\n")], open_delay=GRACE / 3)
    with edge(backend) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert (response.status_code, response.content) == (200, b"data: hi\n\n")
    assert gateway.last.outcome == "completed"
    assert access_log.records()[-1]["opened"] == "in_grace"


@pytest.mark.parametrize(
    ("code", "status"),
    [("ResourceNotFoundException", 404), ("AccessDeniedException", 403), ("ThrottlingException", 429)],
)
def test_a_refusal_within_the_grace_keeps_its_status_and_json_error(edge, access_log, code, status):
    backend = ScriptedBackend([], refuse=UpstreamError(code, "no"), open_delay=GRACE / 3)
    with edge(backend) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert (response.status_code, without_request_id(response.json())) == (status, {"error": code, "message": "no"})
    record = access_log.records()[-1]
    assert (record["opened"], record["error"]) == ("in_grace", code)


def test_a_slow_upstream_gets_a_committed_stream_the_edge_never_times_out(edge, access_log):
    """Opening takes twice CloudFront's first-byte limit: without the commit the client would get a 504."""
    opening = TIMING["first_byte_timeout"] * 2
    backend = ScriptedBackend([Send(b"data: answer\n\n")], open_delay=opening)
    with edge(backend) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    passage = gateway.last
    assert passage.outcome == "completed"
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert passage.first_byte_after < TIMING["first_byte_timeout"] / 2
    events = events_of(response.content)
    assert events[0] == b": opening"
    assert events[-1] == b"data: answer"
    keep_alives = events[1:-1]
    assert set(keep_alives) == {b": keep-alive"}
    assert 2 <= len(keep_alives) <= opening / HEARTBEAT + 1
    record = access_log.records()[-1]
    assert (record["opened"], record["outcome"], record["Events"]) == ("committed", "ok", 1)


def test_a_refusal_after_the_commit_arrives_as_an_error_event_and_the_stream_ends_cleanly(edge, access_log):
    backend = ScriptedBackend([], refuse=UpstreamError("ThrottlingException", "slow down"), open_delay=HEARTBEAT * 1.5)
    with edge(backend) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert gateway.last.outcome == "completed", "the stream ended with its terminating chunk"
    assert response.status_code == 200
    *before, last = events_of(response.content)
    assert before[0] == b": opening"
    name, data = last.split(b"\n")
    assert name == b"event: error"
    error = without_request_id(json.loads(data.removeprefix(b"data: ")))
    assert error == {"error": "ThrottlingException", "message": "slow down"}
    record = access_log.records()[-1]
    assert (record["opened"], record["outcome"], record["error"]) == (
        "committed",
        "upstream_error",
        "ThrottlingException",
    )


def test_an_unexpected_failure_to_open_after_the_commit_is_an_internal_error_event(edge):
    backend = ScriptedBackend([], refuse=KeyError("response"), open_delay=GRACE * 2)
    with edge(backend) as gateway:
        body = httpx.post(gateway.url + "/invoke", json=PROMPT).content
    assert without_request_id(json.loads(body.split(b"event: error\ndata: ")[1])) == {
        "error": "InternalError",
        "message": "the upstream could not be started",
    }


def test_a_client_that_leaves_a_committed_stream_cancels_the_opening(edge, access_log):
    backend = ScriptedBackend([Send(b"data: late\n\n")], open_delay=30)
    with edge(backend) as gateway:
        with httpx.stream("POST", gateway.url + "/invoke", json=PROMPT) as response:
            assert next(response.iter_raw()) == b": opening\n\n"
        assert eventually(lambda: backend.open_cancelled), "the opening went on for a client that had left"
    assert access_log.records()[-1]["outcome"] == "client_gone"


def test_an_agent_slow_to_send_its_headers_streams_through_the_committed_response(edge):
    with FakeAgentCore() as agent:
        slow = sse([sse_event({"text": "thought hard"}), Pause(0.05), sse_event({"text": "done"})])
        agent.respond_with(dataclasses.replace(slow, delay=TIMING["first_byte_timeout"] * 2))
        backend = AgentCoreBackend(ARN, client=agent.client())
        with edge(backend) as gateway:
            response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert gateway.last.outcome == "completed"
    events = events_of(response.content)
    assert events[0] == b": opening"
    assert events[-2:] == [sse_event({"text": "thought hard"}).strip(), sse_event({"text": "done"}).strip()]
    assert len(agent.requests) == 1
