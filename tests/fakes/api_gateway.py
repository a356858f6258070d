"""A loopback stand-in for API Gateway (REST, `responseTransferMode: STREAM`, HTTP_PROXY) in front of the app.

It forwards each request to the app and holds the answer to the timing AWS documents, scaled down:

- `integration_timeout`: the integration may take this long in all. No status and headers by then:
  504 `{"message": "Endpoint request timed out"}` (the INTEGRATION_TIMEOUT gateway response); a stream
  still running then is cut, which curl reports as "(18) transfer closed with outstanding read data
  remaining" (response-streaming-troubleshoot.html). STREAM allows up to 15 minutes.
- `first_byte_timeout`: CloudFront in front of an EDGE endpoint gives up on an origin that sends no
  first byte within its origin response timeout (30 s by default; DownloadDistValuesOrigin.html), 504.
- `idle_timeout`: once streaming, a gap between bytes longer than this cuts the stream: 5 minutes for
  regional and private endpoints, 30 s for edge-optimized ones (response-transfer-mode.html).
- With HTTP_PROXY, API Gateway sends no status code and no headers until it has received all of the
  integration's headers (response-streaming-http.html), so the client sees nothing before that.

    with FakeApiGateway(app_url, **EDGE.scaled(0.01)) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=...)
        assert gateway.last.outcome == "completed"

Every request is recorded as a `Passage`: the status the client got, when each byte left, how it ended.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Literal, Self
from urllib.parse import urlsplit

from tests.fakes.http import read_request

Outcome = Literal["completed", "integration_timeout", "first_byte_timeout", "idle_timeout", "client_gone"]

# What the client gets when nothing came back in time: API Gateway's INTEGRATION_TIMEOUT response, or
# CloudFront's error page for an origin that sent no first byte.
_TIMEOUT_ANSWERS: dict[str, tuple[str, bytes]] = {
    "integration_timeout": ("application/json", json.dumps({"message": "Endpoint request timed out"}).encode()),
    "first_byte_timeout": (
        "text/html",
        b"<h1>504 Gateway Timeout ERROR</h1><h2>The request could not be satisfied.</h2>",
    ),
}

# Hop-by-hop headers, and the framing the gateway redoes itself.
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "expect"}


@dataclass(frozen=True)
class Timing:
    """API Gateway's limits in seconds; `scaled(f)` shrinks them all by `f` so tests stay fast."""

    integration_timeout: float
    idle_timeout: float
    first_byte_timeout: float | None = None

    def scaled(self, factor: float) -> dict[str, float | None]:
        first_byte = None if self.first_byte_timeout is None else self.first_byte_timeout * factor
        return {
            "integration_timeout": self.integration_timeout * factor,
            "idle_timeout": self.idle_timeout * factor,
            "first_byte_timeout": first_byte,
        }


# STREAM with the largest integration timeout (900 000 ms).
REGIONAL = Timing(integration_timeout=900, idle_timeout=300)
EDGE = Timing(integration_timeout=900, idle_timeout=30, first_byte_timeout=30)


@dataclass
class Passage:
    """One request through the gateway."""

    method: str
    path: str
    started_at: float
    status: int | None = None
    # (perf_counter when the bytes left for the client, bytes): the head first, then each body chunk.
    sent_at: list[tuple[float, bytes]] = field(default_factory=list)
    outcome: Outcome | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.sent_at[1:])

    @property
    def first_byte_after(self) -> float | None:
        return self.sent_at[0][0] - self.started_at if self.sent_at else None


class _Timeout(Exception):
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class FakeApiGateway:
    def __init__(
        self,
        target: str,
        *,
        integration_timeout: float = 900,
        idle_timeout: float = 300,
        first_byte_timeout: float | None = None,
    ) -> None:
        split = urlsplit(target)
        self._target = (split.hostname or "127.0.0.1", split.port or 80)
        self.integration_timeout = integration_timeout
        self.idle_timeout = idle_timeout
        self.first_byte_timeout = first_byte_timeout
        self.passages: list[Passage] = []
        self.url = ""
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def last(self) -> Passage:
        if not self.passages:
            raise AssertionError("no request went through the gateway")
        return self.passages[-1]

    def __enter__(self) -> Self:
        self._server = _TCPServer(self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        serve = functools.partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, name="FakeApiGateway", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- one request (runs in a handler thread) ----------------------------------------------

    def _handle(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = read_request(client)
        if request is None:
            return
        started = time.perf_counter()
        passage = Passage(request.method, request.path, started)
        self.passages.append(passage)
        deadline = started + self.integration_timeout
        upstream = http.client.HTTPConnection(*self._target, timeout=self.integration_timeout)
        try:
            query = "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
            headers = {k: v for k, v in request.headers.items() if k not in _NOT_FORWARDED}
            upstream.request(request.method, request.path + (f"?{query}" if query else ""), request.body, headers)
            response = self._head(upstream, deadline, started)
            self._send(client, passage, self._head_bytes(response))
            passage.status = response.status
            self._relay(upstream, response, client, passage, deadline)
            self._send(client, passage, b"0\r\n\r\n", record=False)
            passage.outcome = "completed"
        except _Timeout as timeout:
            passage.outcome = timeout.outcome
            if passage.status is None:  # nothing has left yet: the gateway answers for the integration
                passage.status = 504
                content_type, body = _TIMEOUT_ANSWERS[timeout.outcome]
                with contextlib.suppress(OSError):
                    self._send(client, passage, _head(504, [("Content-Type", content_type)]))
                    self._send(client, passage, _chunk(body), body)
                    self._send(client, passage, b"0\r\n\r\n", record=False)
            # Otherwise the stream is cut: no terminating chunk, the client sees a truncated body.
        except OSError:
            passage.outcome = "client_gone"
        finally:
            upstream.close()
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            passage.done.set()

    def _head(self, upstream: http.client.HTTPConnection, deadline: float, started: float) -> http.client.HTTPResponse:
        limit, outcome = deadline, "integration_timeout"
        if self.first_byte_timeout is not None and started + self.first_byte_timeout < deadline:
            limit, outcome = started + self.first_byte_timeout, "first_byte_timeout"
        assert upstream.sock is not None
        upstream.sock.settimeout(max(limit - time.perf_counter(), 0.001))
        try:
            return upstream.getresponse()
        except TimeoutError:
            raise _Timeout(outcome) from None  # type: ignore[arg-type]

    def _relay(
        self,
        upstream: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        client: socket.socket,
        passage: Passage,
        deadline: float,
    ) -> None:
        assert upstream.sock is not None
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise _Timeout("integration_timeout")
            upstream.sock.settimeout(min(self.idle_timeout, remaining))
            try:
                data = response.read1(65536)
            except TimeoutError:
                raise _Timeout("idle_timeout" if self.idle_timeout < remaining else "integration_timeout") from None
            if not data:
                return
            self._send(client, passage, _chunk(data), data)

    @staticmethod
    def _head_bytes(response: http.client.HTTPResponse) -> bytes:
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _NOT_FORWARDED]
        return _head(response.status, headers)

    @staticmethod
    def _send(
        client: socket.socket, passage: Passage, wire: bytes, data: bytes | None = None, *, record: bool = True
    ) -> None:
        client.sendall(wire)
        if record:
            passage.sent_at.append((time.perf_counter(), wire if data is None else data))


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    reason = http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    lines += ["Transfer-Encoding: chunked", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        self.server.gateway._handle(self.request)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, gateway: FakeApiGateway) -> None:
        self.gateway = gateway
        super().__init__(("127.0.0.1", 0), _Handler)
