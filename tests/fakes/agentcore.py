"""A fake Bedrock AgentCore `InvokeAgentRuntime` (rest-json) on 127.0.0.1.

    with FakeAgentCore() as fake:
        fake.respond_with(sse([sse_event({"text": "hi"}), Pause(3), sse_event({"text": "!"})], delay=0.05))
        client = fake.client()  # or point the app at it with fake.env
        answer = client.invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId="s" * 33, payload=b"{}")
        ...
        assert fake.last.request.headers["x-amzn-bedrock-agentcore-runtime-session-id"] == "s" * 33
        assert fake.last.request.params["agentRuntimeArn"] == ARN

Scenarios (each a `Reply`): `sse` (streamed events, optionally ending in a broken connection),
`json_answer`, `error` (before the stream) and `large_stream` (a benchmark firehose). An agent that
thinks (or a session that starts cold) before its headers: `dataclasses.replace(reply, delay=seconds)`.
`fake.calls` counts what reached it, so a test sees every attempt a retry policy makes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.http import Abort, FakeServer, Repeat, Reply, Request, Step, chunks, rest_json_error

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
SERVICE = "bedrock-agentcore"


def sse_event(data: Mapping[str, Any] | str | bytes) -> bytes:
    """One server-sent event, `data: <json or text>\\n\\n`."""
    if isinstance(data, Mapping):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return b"data: " + data + b"\n\n"


def sse(
    events: Sequence[bytes | Step],
    delay: float = 0.0,
    *,
    abort: bool = False,
    content_type: str = "text/event-stream",
) -> Reply:
    """A streamed answer: each bytes item is sent as its own chunk `delay` seconds after the previous.

    Mix in `Pause(seconds)` for silences. With `abort=True` the connection is dropped after the last
    event instead of ending the chunked body, so the client's read fails mid-stream.
    """
    steps = chunks(events, delay) + ((Abort(),) if abort else ())
    return Reply(headers=(("Content-Type", content_type),), steps=steps)


def json_answer(body: Mapping[str, Any] | bytes, status: int = 200) -> Reply:
    """A non-streamed answer: one `application/json` body with a Content-Length."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(status=status, headers=(("Content-Type", "application/json"),), body=raw)


def error(code: str, message: str = "fake error", status: int | None = None) -> Reply:
    """An error before the stream, e.g. `error("ThrottlingException")`; status defaults to the model's."""
    return rest_json_error(SERVICE, code, message, status)


def large_stream(total_bytes: int, chunk_size: int = 64 * 1024) -> Reply:
    """`total_bytes` of SSE as fast as possible, in chunks of `chunk_size` bytes.

    Each chunk is one whole `data: xxx…` event, and all are the same bytes object: even 256 MiB is
    free to build.
    """
    if total_bytes % chunk_size or chunk_size < 8:
        raise ValueError("total_bytes must be a multiple of chunk_size (at least 8)")
    event = b"data: " + b"x" * (chunk_size - 8) + b"\n\n"
    steps = (Repeat(event, total_bytes // chunk_size),)
    return Reply(headers=(("Content-Type", "text/event-stream"),), steps=steps)


@dataclass(frozen=True)
class StoppedSession:
    """One `StopRuntimeSession` call as the fake received it; `at` is `time.perf_counter()`."""

    session_id: str
    agent_runtime_arn: str
    qualifier: str | None
    at: float


class FakeAgentCore(FakeServer):
    """`POST /runtimes/{agentRuntimeArn}/invocations` (scripted) and `.../stopruntimesession` (modelled);
    see the module docstring and `FakeServer`.

    Replies echo the runtime session id header, as AgentCore does. `StopRuntimeSession` is recorded in
    `stops` and, as AgentCore documents ("instantly terminates the specified session and stops any
    ongoing streaming responses", devguide runtime-stop-session.html), ends that session's invocations
    still under way: they stop where they stand and their connections are dropped.
    """

    routes = (
        re.compile(r"/runtimes/(?P<agentRuntimeArn>[^/]+)/invocations"),
        re.compile(r"/runtimes/(?P<agentRuntimeArn>[^/]+)/(?P<stop>stopruntimesession)"),
    )
    service = SERVICE
    endpoint_env = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"

    def __init__(self, default: Reply | None = None) -> None:
        super().__init__(default)
        self.stops: list[StoppedSession] = []
        # True: answer StopRuntimeSession with AccessDeniedException (a role without the permission).
        self.refuse_stops = False

    def extra_headers(self, request: Request) -> list[tuple[str, str]]:
        session = request.headers.get(SESSION_HEADER.lower())
        return [(SESSION_HEADER, session)] if session else []

    def answer(self, request: Request) -> Reply | None:
        if "stop" not in request.params:
            return None
        if self.refuse_stops:
            return error("AccessDeniedException", "not authorized to perform bedrock-agentcore:StopRuntimeSession")
        session = request.headers.get(SESSION_HEADER.lower(), "")
        qualifier = request.query.get("qualifier", [None])[0]
        for exchange in list(self.exchanges):
            if exchange.request.headers.get(SESSION_HEADER.lower()) == session and not exchange.done.is_set():
                exchange.end()
        self.stops.append(StoppedSession(session, request.params["agentRuntimeArn"], qualifier, time.perf_counter()))
        return Reply(headers=(("Content-Type", "application/json"),), body=b"{}")
