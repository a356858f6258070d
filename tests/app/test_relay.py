"""The relay: bytes leave as they arrive, quiet upstreams get keep-alives, failures and departures end cleanly."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from handler.relay import SsePosition
from handler.upstream import UpstreamError
from tests.app.expect import without_request_id
from tests.app.scripted import Crash, Fail, Pause, ScriptedBackend, Send
from tests.fakes import lockstep
from tests.loopback import eventually, lockstep_chunks

PROMPT = {"prompt": "go"}


def test_each_event_reaches_the_client_before_the_backend_sends_the_next(serve):
    # Lock-step: the backend sends event i+1 only once the client has event i (or after 5 s), so an event
    # held in the relay arrives after its successor left, whatever the load; `make bench` times the lag.
    seen = [threading.Event() for _ in range(8)]
    backend = ScriptedBackend(lockstep([Send(b"data: %d\n\n" % i) for i in range(8)], seen))
    with serve(backend) as base, httpx.stream("POST", base + "/invoke", json=PROMPT, timeout=30) as response:
        chunks = lockstep_chunks(response, seen)
    assert [chunk for _, chunk in chunks] == [b"data: %d\n\n" % i for i in range(8)]
    arrived = [at for at, _ in chunks]
    held = [i for i in range(7) if arrived[i] >= backend.sent_at[i + 1]]
    assert not held, f"events {held} waited in the relay until the backend sent the next one"


def test_a_quiet_upstream_gets_keep_alive_comments_and_then_its_answer(serve):
    backend = ScriptedBackend([Send(b"data: thinking\n\n"), Pause(0.35), Send(b"data: answer\n\n")])
    with (
        serve(backend, heartbeat_seconds=0.1) as base,
        httpx.stream("POST", base + "/invoke", json=PROMPT) as r,
    ):
        body = r.read()
    keep_alives = body.count(b": keep-alive\n\n")
    assert 2 <= keep_alives <= 4
    assert body.startswith(b"data: thinking\n\n")
    assert body.endswith(b"data: answer\n\n")


def test_no_keep_alive_when_the_upstream_keeps_talking(serve):
    backend = ScriptedBackend([step for _ in range(6) for step in (Send(b"data: x\n\n"), Pause(0.05))])
    with serve(backend, heartbeat_seconds=0.2) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert b"keep-alive" not in body


def test_a_mid_stream_failure_keeps_what_was_sent_then_ends_with_an_error_event(serve, access_log):
    backend = ScriptedBackend([Send(b"data: one\n\n"), Send(b"data: two\n\n"), Fail("ThrottlingException")])
    with serve(backend) as base:
        response = httpx.post(base + "/invoke", json=PROMPT)
    assert response.status_code == 200
    events = response.content.split(b"\n\n")
    assert events[:2] == [b"data: one", b"data: two"]
    name, data = events[2].split(b"\n")
    assert name == b"event: error"
    error = without_request_id(json.loads(data.removeprefix(b"data: ")))
    assert error == {"error": "ThrottlingException", "message": "it broke"}
    assert events[3:] == [b""]
    assert backend.closed_at, "the upstream was closed"
    assert access_log.records()[-1]["outcome"] == "upstream_error"


def test_a_failure_before_the_stream_maps_to_a_status_and_json_error(serve):
    cases = {
        "ValidationException": 400,
        "AccessDeniedException": 403,
        "ResourceNotFoundException": 404,
        "ThrottlingException": 429,
        "ServiceQuotaExceededException": 429,
        "InternalServerException": 502,
        "UpstreamUnavailable": 502,
    }
    for code, status in cases.items():
        backend = ScriptedBackend([], refuse=UpstreamError(code, f"{code} happened"))
        with serve(backend) as base:
            response = httpx.post(base + "/invoke", json=PROMPT, headers={"origin": "https://site.example"})
        assert (response.status_code, without_request_id(response.json())) == (
            status,
            {"error": code, "message": f"{code} happened"},
        )
        assert response.headers["access-control-allow-origin"] == "*"


def test_a_client_that_leaves_stops_the_upstream_promptly(serve, access_log):
    backend = ScriptedBackend([Send(b"data: first\n\n"), Pause(30), Send(b"data: never\n\n")])
    with serve(backend, heartbeat_seconds=60) as base:
        with httpx.stream("POST", base + "/invoke", json=PROMPT) as response:
            next(response.iter_raw())
            left_at = time.perf_counter()
        assert eventually(lambda: backend.closed_at), "the upstream was never closed"
    assert backend.closed_at[0] - left_at < 0.25
    assert len(backend.sent_at) == 1
    assert access_log.records()[-1]["outcome"] == "client_gone"


def test_one_log_line_per_request_with_figures_and_never_the_prompt(serve, access_log):
    backend = ScriptedBackend([Send(b"data: a\n\n"), Pause(0.05), Send(b"data: b\n\n")])
    session = "s" * 40
    with serve(backend) as base:
        httpx.post(base + "/invoke", json={"prompt": "my secret prompt", "session_id": session})
        httpx.post(base + "/invoke", content=b"nope")
    ok, rejected = access_log.records(at_least=2)
    assert ok["status"] == 200
    assert ok["session_id"] == session
    assert ok["backend"] == "scripted"
    assert ok["outcome"] == "ok"
    assert (ok["Bytes"], ok["Events"]) == (18, 2)
    assert 0 <= ok["TimeToFirstByte"] < ok["Duration"]
    assert ok["Duration"] >= 50
    assert (rejected["status"], rejected["outcome"], rejected["error"]) == (400, "refused", "InvalidJson")
    assert "my secret prompt" not in access_log.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        b"data: a\n\ndata: b\n\n",
        b"data: a\r\n\r\ndata: b\r\n\r\n",
        b": keep-alive\n\nevent: x\ndata: {}\n\n",
        # Line endings may mix (the SSE spec allows CRLF, LF and CR): a CRLF blank line after an LF line.
        b"data: a\n\r\ndata: b\r\n\n",
    ],
)
def test_the_logged_event_count_is_right_however_the_stream_is_cut(body):
    for cut in range(1, len(body)):
        for second_cut in range(cut, len(body)):
            counter = SsePosition()
            for part in (body[:cut], body[cut:second_cut], body[second_cut:]):
                counted = counter.feed(part)
            assert counted == 2, (cut, second_cut)


def blank_lines(body: bytes) -> int:
    """The reference: every LF that follows LF, or LF CR, byte by byte."""
    return sum(
        body[i] == 10 and (body[i - 1 : i] == b"\n" or body[max(0, i - 2) : i] == b"\n\r") for i in range(len(body))
    )


def test_runs_of_blank_lines_count_one_each_wherever_the_chunks_are_cut():
    body = b"data: a\n\n\n\ndata: b\r\n\r\n\r\n: c\n\r\n\n" + b"data: " + b"x" * 50 + b"\n\n"
    assert blank_lines(body) == 8
    for size in (1, 2, 3, 5, 7, 64):
        counter = SsePosition()
        for start in range(0, len(body), size):
            counted = counter.feed(body[start : start + size])
        assert counted == 8, size


@pytest.mark.parametrize("lines", range(10, 20))
@pytest.mark.parametrize("tricky", [b"\n\n\n", b"\r\n\r\n\r\n", b"\n\r\n\n", b"\r\n\n\r\n"])
@pytest.mark.parametrize("long_events", [0, 12])
def test_a_token_stream_in_one_chunk_counts_the_same_as_byte_by_byte(lines, tricky, long_events):
    # Many short lines take the counting path part-way through a chunk (after long ones, later); the
    # terminators around that point must be counted once.
    body = b"data: " + b"y" * 200 + b"\n\n"
    body = body * long_events + b"data: t\n\n" * (lines // 2) + b"data: u" + tricky + b"data: v\n\n" * 20
    whole, byte_by_byte = SsePosition(), SsePosition()
    for i in range(len(body)):
        byte_by_byte.feed(body[i : i + 1])
    assert whole.feed(body) == byte_by_byte.events == blank_lines(body)


def test_a_pause_inside_a_line_gets_no_keep_alive_so_the_event_arrives_intact(serve):
    backend = ScriptedBackend([Send(b'data: {"t":"par'), Pause(0.3), Send(b'tial"}\n\n')])
    with serve(backend, heartbeat_seconds=0.1) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert body == b'data: {"t":"partial"}\n\n'


def test_a_pause_after_a_line_inside_an_event_gets_a_comment_line_that_keeps_the_event_whole(serve):
    backend = ScriptedBackend([Send(b"event: answer\n"), Pause(0.25), Send(b"data: 42\n\n")])
    with serve(backend, heartbeat_seconds=0.1) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert body.startswith(b"event: answer\n: keep-alive\n")
    assert body.endswith(b": keep-alive\ndata: 42\n\n")
    assert b"\n\n" not in body[:-2], "no blank line splits the event"


def test_an_unexpected_failure_mid_stream_still_ends_the_response_cleanly_with_an_error_event(serve, access_log):
    backend = ScriptedBackend([Send(b"data: one\n\n"), Crash()])
    with serve(backend) as base:
        response = httpx.post(base + "/invoke", json=PROMPT)
    assert response.status_code == 200
    assert response.content.startswith(b"data: one\n\nevent: error\ndata: ")
    assert without_request_id(json.loads(response.content.split(b"data: ")[-1])) == {
        "error": "InternalError",
        "message": "the stream failed",
    }
    assert access_log.records()[-1]["outcome"] == "upstream_error"


def test_an_unexpected_failure_before_the_stream_is_a_json_502_with_cors(serve, access_log):
    backend = ScriptedBackend([], refuse=KeyError("response"))
    with serve(backend) as base:
        response = httpx.post(base + "/invoke", json=PROMPT, headers={"origin": "https://site.example"})
    assert response.status_code == 502
    assert without_request_id(response.json()) == {
        "error": "InternalError",
        "message": "the upstream could not be started",
    }
    assert response.headers["access-control-allow-origin"] == "*"
    assert access_log.records()[-1]["outcome"] == "upstream_error"


def test_a_client_that_leaves_before_the_first_byte_cancels_the_pending_upstream_call(serve, access_log):
    backend = ScriptedBackend([Send(b"data: late\n\n")], open_delay=30)
    with serve(backend) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(base + "/invoke", json=PROMPT, timeout=httpx.Timeout(5, read=0.2))
        left_at = time.perf_counter()
        assert eventually(lambda: backend.open_cancelled), "the upstream call went on for a client that had left"
    assert backend.open_cancelled[0] - left_at < 0.25
    assert access_log.records()[-1]["outcome"] == "client_gone"


def test_a_failure_in_the_middle_of_a_line_ends_that_event_so_the_error_event_arrives_whole(serve):
    backend = ScriptedBackend([Send(b'data: {"t":"par'), Fail("UpstreamInterrupted")])
    with serve(backend) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert body.startswith(b'data: {"t":"par\n\nevent: error\ndata: ')
    assert json.loads(body.split(b"data: ")[-1])["error"] == "UpstreamInterrupted"


def test_a_failure_after_a_line_inside_an_event_ends_that_event_first(serve):
    backend = ScriptedBackend([Send(b"event: answer\ndata: 1\n"), Fail("UpstreamInterrupted")])
    with serve(backend) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert body.startswith(b"event: answer\ndata: 1\n\nevent: error\ndata: ")
