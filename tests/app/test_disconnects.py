"""A client that leaves stops the work, not only the reading: AgentCore's session is stopped, abandoned
calls hold no worker a staying client needs, and the upstream hears of it at once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
import time

import httpx
import pytest

from handler.backends.agentcore import AgentCoreBackend
from tests.app.scripted import ScriptedBackend, Send
from tests.fakes import FakeAgentCore, Pause
from tests.fakes.agentcore import sse, sse_event
from tests.loopback import address, eventually, send_invoke

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"
SESSION = "d" * 40
SESSION_HEADER = "x-amzn-bedrock-agentcore-runtime-session-id"


@pytest.fixture
def app(agentcore, serve):
    backend = AgentCoreBackend(ARN, qualifier="live", client=agentcore.client())
    with serve(backend, heartbeat_seconds=60, open_grace_seconds=50) as base:
        yield base


def first_session(agentcore: FakeAgentCore) -> str | None:
    """The session of the one caller that stayed (the storm's are named `storm-…`)."""
    return next(
        (s for e in agentcore.exchanges if not (s := e.request.headers[SESSION_HEADER]).startswith("storm-")), None
    )


def read_first_event(connection: socket.socket) -> None:
    seen = b""
    while b"data: " not in seen:
        data = connection.recv(4096)
        assert data, "the stream ended before its first event"
        seen += data


def ask(base: str, session: str = SESSION) -> socket.socket:
    """A raw request for an answer, its response unread: the caller decides when to leave."""
    return send_invoke(base, json.dumps({"prompt": "q", "session_id": session}).encode())


def test_leaving_mid_stream_stops_the_agents_session_with_its_qualifier(agentcore, app, access_log):
    agentcore.respond_with(sse([sse_event({"n": 1}), Pause(30), sse_event({"n": 2})]))
    with ask(app) as connection:
        read_first_event(connection)
    left_at = time.perf_counter()
    (stop,) = eventually(lambda: agentcore.stops, timeout=3)
    assert (stop.session_id, stop.agent_runtime_arn, stop.qualifier) == (SESSION, ARN, "live")
    assert stop.at - left_at < 1
    assert access_log.records()[0]["outcome"] == "client_gone"


def test_leaving_before_the_first_byte_stops_the_session_and_the_pending_invocation_ends(agentcore, app):
    agentcore.respond_with(dataclasses.replace(sse([sse_event({"n": 1})]), delay=30))
    with ask(app):
        agentcore.wait_for_request()
    left_at = time.perf_counter()
    (stop,) = eventually(lambda: agentcore.stops, timeout=3)
    assert stop.session_id == SESSION
    assert stop.at - left_at < 1
    assert agentcore.last.done.wait(3)
    assert agentcore.last.outcome == "halted", "the invocation no client waits for was ended by the stop"


def test_an_answer_read_to_its_end_leaves_the_session_running_for_the_next_turn(agentcore, app):
    agentcore.respond_with(sse([sse_event({"n": 1})]))
    httpx.post(app + "/invoke", json={"prompt": "q", "session_id": SESSION})
    time.sleep(0.2)
    assert agentcore.stops == []


def test_when_the_stop_is_refused_an_answer_that_comes_after_the_client_left_is_still_closed_at_once(agentcore, serve):
    agentcore.refuse_stops = True
    agentcore.respond_with(dataclasses.replace(sse([sse_event({"n": 1}), Pause(20)]), delay=0.4))
    with serve(AgentCoreBackend(ARN, client=agentcore.client())) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(base + "/invoke", json={"prompt": "q"}, timeout=httpx.Timeout(5, read=0.1))
        assert agentcore.last.disconnected.wait(5), "nobody closed the answer the client no longer wanted"
    assert agentcore.last.disconnected_at - agentcore.last.headers_sent_at < 0.5


def test_300_clients_leaving_a_slow_agent_do_not_make_a_staying_client_wait(agentcore, app):
    """Each abandoned call waits for an answer nobody will read; none may hold what the next caller needs."""
    slow = dataclasses.replace(sse([sse_event({"n": 1})]), delay=30)
    agentcore.respond_by(lambda request: slow if request.headers[SESSION_HEADER].startswith("storm-") else None)
    agentcore.respond_with(sse([sse_event({"fast": True})]))
    storm = [ask(app, f"storm-{n:04d}-" + "0" * 30) for n in range(300)]
    time.sleep(0.3)
    for connection in storm:
        connection.close()
    started = time.perf_counter()
    with httpx.stream("POST", app + "/invoke", json={"prompt": "q"}, timeout=30) as response:
        first = next(response.iter_raw())
    first_byte = time.perf_counter() - started
    assert b'"fast"' in first, "the staying client's first byte is its answer (the open grace is 60 s)"
    assert first_byte < 3, f"the staying client waited {first_byte:.1f} s for its first byte"
    # A call whose client left before its turn is never sent; each one that was has its session stopped.
    sent = {e.request.headers[SESSION_HEADER] for e in agentcore.exchanges} - {None}
    stopped = eventually(
        lambda: {s.session_id for s in agentcore.stops} >= sent - {first_session(agentcore)}, timeout=10
    )
    assert stopped, "every abandoned session that reached the agent was stopped"
    assert eventually(lambda: all(e.done.is_set() for e in agentcore.exchanges), timeout=10)


def test_leaving_is_logged_as_client_gone_even_when_the_cut_off_upstream_fails_as_it_is_told(
    agentcore, app, access_log
):
    """Hanging up on the upstream makes its read fail at once, which races the cancellation: the failure
    it causes must not turn the log line into an upstream error (nor anything into `ok`)."""
    agentcore.respond_with(sse([sse_event({"n": 1}), Pause(30)]))
    for n in range(20):
        with ask(app, f"race-{n:04d}-" + "0" * 30) as connection:
            read_first_event(connection)
    outcomes = {line["outcome"] for line in access_log.records(at_least=20)}
    assert outcomes == {"client_gone"}


def test_a_request_read_after_its_client_hung_up_starts_no_work_and_is_logged_as_gone(serve, access_log):
    """In a storm the app reads requests late; one whose client is gone by then (the kernel knows) costs
    no upstream call at all."""
    backend = ScriptedBackend([Send(b"data: x\n\n")], open_delay=5)
    body = json.dumps({"prompt": "q"}).encode()
    with serve(backend) as base:
        with socket.create_connection(address(base), timeout=10) as connection:
            # Corked, the request and the FIN leave in one segment: the app cannot read one without the other.
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            connection.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))
            connection.shutdown(socket.SHUT_WR)
        (line,) = access_log.records()
    assert line["outcome"] == "client_gone"
    assert backend.opened == []


class LoopRecording(AgentCoreBackend):
    """The agentcore backend, noting the event loop it serves on (so the test can hold it up)."""

    loop: asyncio.AbstractEventLoop

    async def open(self, request):  # type: ignore[override]
        self.loop = asyncio.get_running_loop()
        return await super().open(request)


def test_the_upstream_hears_a_hang_up_while_the_event_loop_is_held_up(agentcore, serve, access_log):
    """The thread reading the answer waits on the client's socket too: the FIN reaches the upstream
    while the event loop is busy (as it is when a crowd leaves at once), not when it comes round to it."""
    agentcore.refuse_stops = True  # only the connection's close can end the exchange
    agentcore.respond_with(sse([sse_event({"n": 1}), Pause(30)]))
    backend = LoopRecording(ARN, client=agentcore.client())
    stuck = threading.Event()
    held_until: list[float] = []

    def hold_up() -> None:
        held_until.append(time.perf_counter() + 2)
        stuck.set()
        time.sleep(2)

    with serve(backend, heartbeat_seconds=60) as base:
        with ask(base) as connection:
            read_first_event(connection)
            backend.loop.call_soon_threadsafe(hold_up)
            assert stuck.wait(5)
        assert agentcore.last.disconnected.wait(5)
        assert agentcore.last.disconnected_at < held_until[0], "the upstream heard only once the loop was free"
        assert eventually(lambda: access_log.getvalue(), timeout=10)
        assert access_log.records()[0]["outcome"] == "client_gone"
