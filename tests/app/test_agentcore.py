"""The agentcore backend through real boto3 to a loopback AgentCore: bytes pass through as they arrive."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import os
import socket
import threading
import time

import httpx
import pytest

from handler.backends.agentcore import AgentCoreBackend
from handler.backends.aws import socket_of
from tests.app.expect import without_request_id
from tests.fakes import FakeAgentCore, Pause, Repeat, lockstep
from tests.fakes.agentcore import error, json_answer, sse, sse_event
from tests.loopback import eventually, lockstep_chunks, serve_process

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"
SESSION = "a" * 40


@pytest.fixture
def fake():
    with FakeAgentCore() as server:
        yield server


@pytest.fixture
def app(fake, serve):
    with serve(AgentCoreBackend(ARN, qualifier="live", client=fake.client()), heartbeat_seconds=60) as base:
        yield base


def test_the_agent_is_called_with_the_prompt_the_session_and_the_qualifier(fake, app):
    fake.respond_with(sse([sse_event({"text": "hi"})]))
    httpx.post(app + "/invoke", json={"prompt": "What is new?", "session_id": SESSION})
    request = fake.last.request
    assert request.params["agentRuntimeArn"] == ARN
    assert request.query == {"qualifier": ["live"]}
    assert request.headers["x-amzn-bedrock-agentcore-runtime-session-id"] == SESSION
    assert json.loads(request.body) == {"prompt": "What is new?"}


def test_sse_from_the_agent_passes_through_byte_for_byte_event_by_event_as_it_arrives(fake, app):
    events = [sse_event({"i": i, "text": "ünïcode ✓"}) for i in range(12)] + [b"event: end\ndata: {}\n\n"]
    # Lock-step (see `Until`): the agent sends event i+1 once the client has event i; `make bench` times the lag.
    seen = [threading.Event() for _ in events]
    fake.respond_with(sse(lockstep(events, seen)))
    with httpx.stream("POST", app + "/invoke", json={"prompt": "go", "session_id": SESSION}, timeout=30) as response:
        assert response.headers["x-session-id"] == SESSION
        chunks = lockstep_chunks(response, seen)
    fake.last.done.wait(2)
    assert b"".join(chunk for _, chunk in chunks) == b"".join(events)
    sent = fake.last.sent_at
    assert [chunk for _, chunk in chunks] == [data for _, data in sent], "one client chunk per agent chunk"
    held = [i for i in range(len(events) - 1) if chunks[i][0] >= sent[i + 1][0]]
    assert not held, f"events {held} were held back until the agent sent the next one"


def test_a_json_answer_reaches_the_client_as_one_sse_event(fake, app):
    fake.respond_with(json_answer({"result": "42", "nested": {"ok": True}}))
    response = httpx.post(app + "/invoke", json={"prompt": "q"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b'data: {"result":"42","nested":{"ok":true}}\n\n'


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ValidationException", 400),
        ("AccessDeniedException", 403),
        ("ResourceNotFoundException", 404),
        ("ThrottlingException", 429),
        ("ServiceQuotaExceededException", 429),
        ("InternalServerException", 502),
        ("RuntimeClientError", 502),
    ],
)
def test_agent_errors_before_the_stream_become_the_matching_status(fake, app, code, status):
    fake.respond_with(error(code, f"{code} from the fake"))
    response = httpx.post(app + "/invoke", json={"prompt": "q"})
    assert response.status_code == status
    assert without_request_id(response.json()) == {"error": code, "message": f"{code} from the fake"}


def test_a_connection_broken_mid_stream_ends_with_an_error_event_after_what_was_sent(fake, app):
    fake.respond_with(sse([sse_event({"n": 1}), sse_event({"n": 2})], delay=0.01, abort=True))
    response = httpx.post(app + "/invoke", json={"prompt": "q"})
    assert response.status_code == 200
    body = response.content
    assert body.startswith(sse_event({"n": 1}) + sse_event({"n": 2}))
    tail = body.removeprefix(sse_event({"n": 1}) + sse_event({"n": 2}))
    assert tail.startswith(b"event: error\ndata: ")
    assert json.loads(tail.split(b"data: ", 1)[1])["error"] == "UpstreamInterrupted"


def test_a_thinking_agent_gets_keep_alives_instead_of_a_cut(fake, serve):
    fake.respond_with(sse([sse_event({"n": 1}), Pause(0.45), sse_event({"n": 2})]))
    with serve(AgentCoreBackend(ARN, client=fake.client()), heartbeat_seconds=0.1) as base:
        body = httpx.post(base + "/invoke", json={"prompt": "q"}).content
    assert body.startswith(sse_event({"n": 1}) + b": keep-alive\n\n")
    assert body.endswith(b": keep-alive\n\n" + sse_event({"n": 2}))
    assert 3 <= body.count(b": keep-alive") <= 5


def test_a_client_that_leaves_closes_the_agent_connection_within_a_fraction_of_a_second(fake, app):
    fake.respond_with(sse([sse_event({"n": 1}), Pause(20), sse_event({"n": 2})]))
    with httpx.stream("POST", app + "/invoke", json={"prompt": "q"}) as response:
        next(response.iter_raw())
        left_at = time.perf_counter()
    assert fake.last.disconnected.wait(5), "the agent connection stayed open"
    assert fake.last.disconnected_at - left_at < 0.5
    assert fake.last.outcome == "disconnected"


def threads_reading_answers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The native ids of the threads that read answers' bodies, one per read, in order."""
    from handler.backends import http_body

    reading: list[int] = []
    reader = http_body.reader

    def tracked_reader(raw, watch=None):
        read1 = reader(raw, watch)
        return lambda size: reading.append(threading.get_native_id()) or read1(size)

    monkeypatch.setattr(http_body, "reader", tracked_reader)
    return reading


def test_the_thread_that_made_the_call_reads_its_answer(fake, serve, monkeypatch):
    """No thread is started for the reading: it would wait for the GIL before its first read, behind the
    other answers opening at the same time."""
    fake.respond_with(sse([sse_event({"n": i}) for i in range(3)], delay=0.01))
    client = fake.client()
    calling = set()
    client.meta.events.register("before-send", lambda **_: calling.add(threading.get_native_id()))
    reading = threads_reading_answers(monkeypatch)
    with serve(AgentCoreBackend(ARN, client=client), heartbeat_seconds=60) as base:
        body = httpx.post(base + "/invoke", json={"prompt": "q"}).content
    assert body.count(b"data: ") == 3
    assert len(calling) == 1
    assert set(reading) == calling


def test_an_answer_whose_caller_left_during_the_call_is_closed_and_not_read(fake, monkeypatch):
    """The call's thread would go on to read an answer nobody waits for: it is closed instead, and the
    thread ends at its first read past what had already arrived."""
    from handler.backends import aws

    fake.respond_with(dataclasses.replace(sse([sse_event({"n": 1}), Pause(20)]), delay=0.3))
    reading = threads_reading_answers(monkeypatch)

    async def leave_during_the_call() -> None:
        client = aws.Client("bedrock-agentcore", ready=fake.client())
        request = {"agentRuntimeArn": ARN, "runtimeSessionId": SESSION, "payload": b"{}"}
        call = asyncio.ensure_future(
            client.call_with_body(
                "invoke_agent_runtime",
                body_of=lambda r: r["response"]._raw_stream,
                media_type="text/event-stream",
                **request,
            )
        )
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(leave_during_the_call())
    assert fake.last.disconnected.wait(5), "the answer nobody reads stayed open"
    assert eventually(lambda: bool(reading)), "the call's thread never went on to the body"
    assert eventually(lambda: not os.path.exists(f"/proc/self/task/{reading[0]}")), "its thread is still reading"


def test_concurrent_streams_each_keep_their_own_pace(fake, app):
    """A slow agent answer must not hold back a fast one: boto3's blocking reads stay off the event loop."""
    slow = sse([sse_event({"slow": i}) for i in range(3)], delay=0.4)
    fast = sse([sse_event({"fast": i}) for i in range(5)], delay=0.02)
    fake.queue(slow, slow, slow, fast)

    def call(prompt: str) -> tuple[float, bytes]:
        body = httpx.post(app + "/invoke", json={"prompt": prompt}, timeout=10).content
        return time.perf_counter(), body

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        slow_calls = [pool.submit(call, "slow") for _ in range(3)]
        assert eventually(lambda: len(fake.requests) >= 3), "the slow answers never started"
        fast_call = pool.submit(call, "fast")
        fast_ended, fast_body = fast_call.result()
        slow_results = [future.result() for future in slow_calls]
    assert fast_body.count(b'"fast"') == 5
    assert all(body.count(b'"slow"') == 3 for _, body in slow_results)
    # 0.1 s of fast answer against 1.2 s of slow ones already under way: it must end while they go on.
    slow_ended = min(ended for ended, _ in slow_results)
    assert fast_ended < slow_ended, f"the fast answer ended {fast_ended - slow_ended:.2f}s after a slow one"


def test_python_m_handler_reaches_agentcore_through_the_endpoint_variable(fake):
    fake.respond_with(sse([sse_event({"text": "from the fake"})], delay=0.01))
    # A long grace: this is about the endpoint variable, and a loaded machine may open slowly.
    env = {**fake.env, "BACKEND": "agentcore", "AGENT_RUNTIME_ARN": ARN, "OPEN_GRACE_SECONDS": "10"}
    with serve_process(env) as (base, _):
        response = httpx.post(base + "/invoke", json={"prompt": "q", "session_id": SESSION})
    assert response.status_code == 200
    assert response.content == sse_event({"text": "from the fake"})
    assert fake.last.request.params["agentRuntimeArn"] == ARN


def test_a_client_that_cannot_be_made_answers_502_and_logs_the_reason(serve, monkeypatch, access_log):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with serve(AgentCoreBackend(ARN)) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "q"})
    assert response.status_code == 502
    assert without_request_id(response.json()) == {
        "error": "UpstreamUnavailable",
        "message": "the upstream could not be reached",
    }
    (line,) = access_log.records()
    assert line["request_id"] == response.json()["request_id"]
    assert "region" in line["error_detail"].lower()


def test_the_relay_can_see_the_socket_under_a_botocore_response_to_batch_a_fast_answer(fake):
    """Batching a fast upstream relies on finding the socket inside urllib3/http.client; if an upgrade
    moves it, this fails instead of the relay silently getting slower."""
    fake.respond_with(sse([sse_event({"n": 1}), Pause(0.2)]))
    answer = fake.client().invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId=SESSION, payload=b"{}")
    raw = answer["response"]._raw_stream
    assert isinstance(socket_of(raw), socket.socket)
    raw.close()


def test_an_answer_cut_short_of_its_content_length_is_an_error_not_a_complete_answer(fake, app):
    fake.respond_with(dataclasses.replace(json_answer(b'{"a": 1234'), declared_length=100))
    body = httpx.post(app + "/invoke", json={"prompt": "q"}).content
    assert body.startswith(b"event: error\ndata: ")
    assert json.loads(body.split(b"data: ")[-1])["error"] == "UpstreamInterrupted"


def test_the_agent_gets_the_request_object_less_session_id_and_the_callers_trace_context(fake, app):
    fake.respond_with(sse([sse_event({"text": "hi"})]))
    trace = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "rojo=00f067aa0ba902b7",
    }
    document = {"question": "ünïcode?", "history": [{"q": 1}], "session_id": SESSION}
    httpx.post(app + "/invoke", json=document, headers=trace)
    request = fake.last.request
    assert json.loads(request.body) == {"question": "ünïcode?", "history": [{"q": 1}]}
    assert request.headers["x-amzn-bedrock-agentcore-runtime-session-id"] == SESSION
    # InvokeAgentRuntime sends traceParent / traceState as the W3C headers (botocore's service model).
    assert (request.headers["traceparent"], request.headers["tracestate"]) == (
        trace["traceparent"],
        trace["tracestate"],
    )


def test_an_agent_answers_no_openai_routes(app):
    completions = httpx.post(app + "/v1/chat/completions", json={"model": "x", "messages": []})
    models = httpx.get(app + "/v1/models")
    for response in (completions, models):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "agentcore backend has no OpenAI-compatible endpoint" in error["message"]


def test_a_plain_text_answer_streams_as_text_events_as_it_arrives(fake, app):
    raw = [b"Hello ", "wö".encode()[:2], "ö".encode()[1:] + b"rld", b"!"]  # "ö" split between two reads
    # Lock-step (see `Until`): the agent writes its next piece once the client has the text of the last.
    seen = [threading.Event() for _ in raw]
    fake.respond_with(sse(lockstep(raw, seen), content_type="text/plain; charset=utf-8"))
    with httpx.stream("POST", app + "/invoke", json={"prompt": "q"}, timeout=30) as response:
        chunks = lockstep_chunks(response, seen)
    texts = [json.loads(chunk.removeprefix(b"data: "))["text"] for _, chunk in chunks]
    assert "".join(texts) == "Hello wörld!"
    assert texts[0] == "Hello ", "the first words went out before the rest was written"
    sent = fake.last.sent_at
    held = [i for i in range(len(raw) - 1) if chunks[i][0] >= sent[i + 1][0]]
    assert not held, f"the text of pieces {held} arrived only after the agent wrote the next one"


def test_a_json_answer_over_the_cap_ends_with_answer_too_large_and_stops_the_agent(fake, serve):
    backend = AgentCoreBackend(ARN, client=fake.client(), max_answer_bytes=4096)
    huge = Repeat(b"x" * 65536, 1024)  # 64 MiB: more than the sockets between us can hold
    fake.respond_with(sse([b'{"text": "', huge, b'"}'], content_type="application/json"))
    with serve(backend) as base:
        body = httpx.post(base + "/invoke", json={"prompt": "q"}).content
    name, data = body.split(b"\n")[:2]
    assert name == b"event: error"
    error_event = json.loads(data.removeprefix(b"data: "))
    assert error_event["error"] == "AnswerTooLarge"
    assert error_event["message"] == "the agent's answer is larger than 4096 bytes"
    assert fake.last.done.wait(15)
    assert fake.last.outcome == "disconnected", "the app hung up rather than reading the rest"


def test_a_json_answer_at_the_cap_arrives_whole(fake, serve):
    document = b'{"text": "' + b"y" * (4096 - 12) + b'"}'
    assert len(document) == 4096
    fake.respond_with(json_answer(document))
    with serve(AgentCoreBackend(ARN, client=fake.client(), max_answer_bytes=4096)) as base:
        body = httpx.post(base + "/invoke", json={"prompt": "q"}).content
    assert json.loads(body.removeprefix(b"data: ")) == json.loads(document)


def test_an_answer_read_to_its_end_leaves_its_connection_for_the_next_call(agentcore, serve):
    """AWS keeps connections open: a new one per call would add a TCP and a TLS handshake to every
    answer's first byte."""
    agentcore.keep_alive = True
    agentcore.respond_with(sse([sse_event({"n": 1}), sse_event({"n": 2})]))
    with serve(AgentCoreBackend(ARN, client=agentcore.client())) as base:
        answers = [httpx.post(base + "/invoke", json={"prompt": "q"}) for _ in range(3)]
    assert [a.content for a in answers] == [sse_event({"n": 1}) + sse_event({"n": 2})] * 3
    assert (len(agentcore.exchanges), agentcore.connections) == (3, 1)


def test_an_answer_cut_off_does_not_leave_its_connection_to_the_next_call(agentcore, serve):
    agentcore.keep_alive = True
    agentcore.queue(sse([sse_event({"n": 1}), b'data: {"trunc'], abort=True))
    agentcore.respond_with(sse([sse_event({"n": 2})]))
    with serve(AgentCoreBackend(ARN, client=agentcore.client())) as base:
        broken = httpx.post(base + "/invoke", json={"prompt": "q"})
        after = httpx.post(base + "/invoke", json={"prompt": "q"})
    assert b"event: error" in broken.content
    assert after.content == sse_event({"n": 2})
    assert agentcore.connections == 2
