"""uvicorn, set up to face real clients: `make local` and containers, not only Lambda Web Adapter.

On Lambda the adapter is the app's only client. Elsewhere anyone can connect, so the HTTP protocol is
uvicorn's own with three guards added:
- a connection must send its request head within `idle_seconds` of connecting (or of its last
  answer), so sockets that never send a byte cannot pile up;
- at `max_connections` a newcomer takes the place of the longest-idle connection; only when every
  connection is busy with a request does it get a 503 at once. Idle sockets therefore never crowd
  out `/healthz`, and the count stays below Lambda's 1,024 file descriptors;
- an HTTP/1.0 client gets its streamed body delimited by the connection's close, not in chunked
  coding (which HTTP/1.0 does not have).

In chunked coding, a big piece of body goes to the socket as it is, its framing beside it, instead of
being copied into one bytes with the framing (see `ChunkedAsIs`).

It also offers the app a scope extension, `ON_DISCONNECT`: a list of callables run the moment the
client's connection ends before its response did, inside the server's own handling of the hang-up.
A `http.disconnect` message reaches the app a loop iteration or two later, and when a crowd leaves at
once those iterations are long: whatever must not wait (telling the upstream) is done here instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import select
import time
from typing import Any, ClassVar

import uvicorn
from starlette.types import ASGIApp, Message
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ON_DISCONNECT = "streamgate.on_disconnect"
# A callable any thread may use to ask whether the client's connection is still up (the kernel's word,
# not the event loop's, which in a storm of departures hears of them late).
STILL_CONNECTED = "streamgate.still_connected"

log = logging.getLogger(__name__)

_BUSY_BODY = json.dumps({"error": "ServerBusy", "message": "too many connections; try again shortly"}).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%b" % (len(_BUSY_BODY), _BUSY_BODY)
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guards above; `protocol()` makes one with its limits."""

    max_connections: ClassVar[int] = 512
    idle_seconds: ClassVar[float] = 5.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = time.monotonic()
        self._head_deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections and not self._evict_the_idlest():
            transport.write(BUSY_RESPONSE)
            transport.close()
            return
        self._await_head()

    def eof_received(self) -> bool | None:
        self._client_left()
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        self._client_left()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        extensions = self.scope.setdefault("extensions", {})  # type: ignore[typeddict-item]
        extensions[ON_DISCONNECT] = []
        extensions[STILL_CONNECTED] = _still_connected(self.transport)
        super().on_headers_complete()
        become(self.cycle, DelimitedByClose if self.scope.get("http_version") == "1.0" else ChunkedAsIs)

    def _client_left(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            return
        callbacks = self.cycle.scope.get("extensions", {}).pop(ON_DISCONNECT, [])  # type: ignore[union-attr]
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.idle_since = time.monotonic()
        if not self.transport.is_closing():
            self._await_head()

    @property
    def idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_deadline = self.loop.call_later(self.idle_seconds, self._give_up)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _give_up(self) -> None:
        if self.idle and not self.transport.is_closing():
            self.transport.close()

    def _evict_the_idlest(self) -> bool:
        idle = [other for other in self.connections if other is not self and getattr(other, "idle", False)]
        if not idle:
            return False
        min(idle, key=lambda other: other.idle_since).transport.close()
        return True


class ClientConnection:
    """The client's end of one connection, for any thread to ask about: `connection()` says whether the
    peer has not hung up (poll(2) for a hang-up, reading nothing); `fileno()` is its socket, for a
    thread that waits on the upstream to wait on the hang-up too (see `handler.backends.hangup`)."""

    # What poll(2) reports on a socket whose peer has gone. POLLRDHUP (the peer shut its side) is Linux's;
    # elsewhere a hang-up shows when the socket closes.
    GONE = getattr(select, "POLLRDHUP", 0) | select.POLLHUP | select.POLLERR

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __call__(self) -> bool:
        if self._fd < 0:
            return True
        poller = select.poll()  # one per question: a poll object may not be polled from two threads
        poller.register(self._fd, self.GONE)
        return not poller.poll(0)

    def fileno(self) -> int:
        return self._fd


def _still_connected(transport: asyncio.Transport) -> ClientConnection:
    sock = transport.get_extra_info("socket")
    return ClientConnection(sock.fileno() if sock is not None else -1)


def protocol(max_connections: int, idle_seconds: float) -> type[GuardedHttpProtocol]:
    return type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"max_connections": max_connections, "idle_seconds": idle_seconds},
    )


def config(
    app: ASGIApp | str, host: str, port: int, max_connections: int, idle_seconds: float = 5.0, **options: Any
) -> uvicorn.Config:
    """The server for `app`; access_log off because the app writes its own line per request."""
    http = protocol(max_connections, idle_seconds)
    return uvicorn.Config(app, host=host, port=port, http=http, ws="none", access_log=False, **options)


class DelimitedByClose(RequestResponseCycle):
    """uvicorn's cycle, writing a body with no length the HTTP/1.0 way: as is, ended by closing.

    uvicorn picks chunked coding for any such body whatever the client's version and has no other
    framing, so this sets the two fields its writer consults: "not chunked", and a length that the
    last piece of the body makes come out exact (the tests pin the behaviour)."""

    _delimited = False

    async def send(self, message: Message) -> None:  # type: ignore[override]
        if message["type"] == "http.response.start" and not _has_length(message):
            self._delimited = True
            self.chunked_encoding = False
            self.expected_content_length = 1 << 62
        elif self._delimited and message["type"] == "http.response.body" and not message.get("more_body", False):
            self.expected_content_length = len(message.get("body", b""))
        await super().send(message)  # type: ignore[arg-type]


# A body this big is written as it is, its chunk framing beside it, instead of joined with the framing
# into a new bytes (uvicorn's way): a copy of every byte relayed. Smaller ones cost less to copy than to
# write as three pieces.
WRITE_AS_IS = 16 * 1024


class ChunkedAsIs(RequestResponseCycle):
    """uvicorn's cycle, writing a big body of a chunked response with its framing beside it, in one
    vectored write.

    uvicorn makes each chunk `b"".join([size line, body, CRLF])`, copying the body; uvloop's
    `writelines` hands the three to one writev(2) and keeps references, not copies, of what the
    socket cannot take yet. uvicorn's `send` still runs, with the body gone, for everything else
    it does (back-pressure, the last chunk, completion)."""

    async def send(self, message: Message) -> None:  # type: ignore[override]
        body = message.get("body", b"")
        if message["type"] == "http.response.body" and self.chunked_encoding and len(body) >= WRITE_AS_IS:
            if self.flow.write_paused and not self.disconnected:
                await self.flow.drain()
            if self.disconnected or self.response_complete:
                return
            self.transport.writelines([b"%x\r\n" % len(body), body, b"\r\n"])
            message = {**message, "body": b""}
        await super().send(message)  # type: ignore[arg-type]


def become(cycle: RequestResponseCycle, kind: type[RequestResponseCycle]) -> None:
    """Make the cycle uvicorn just made one of `kind`, before its first step runs.

    A subclass rather than a wrapper put on the cycle's `send`: a wrapper that reaches the cycle, kept
    on the cycle, is a reference cycle, and every request's objects (its transport, scope, the app's
    state) would wait for the cyclic garbage collector, whose pauses hold the GIL for milliseconds
    while other streams wait."""
    cycle.__class__ = kind


def _has_length(message: dict[str, Any]) -> bool:
    return any(name.lower() == b"content-length" for name, _ in message.get("headers", []))
