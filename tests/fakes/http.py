"""The shared core of the fakes: a raw HTTP/1.1 server on 127.0.0.1 that plays scripted replies.

A hand-written server (not uvicorn) because the tests need exact control over the wire: every
`Chunk` is its own HTTP chunk sent the moment it is due, a reply can end with a broken connection,
and the fake must notice a client that hangs up even while it is silent.

A `Reply` is a status, headers and either a whole body or a script of `Step`s for a chunked body.
Each request is recorded as an `Exchange`: the parsed `Request`, when every chunk left (`sent_at`,
from `time.perf_counter()`, which is CLOCK_MONOTONIC and so comparable across processes on Linux),
and how the reply ended.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import http.client
import json
import re
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import botocore.session
from botocore.config import Config

T = TypeVar("T")

# How often waits wake up to notice that the server is stopping.
_STOP_POLL = 0.1


@dataclass(frozen=True)
class Chunk:
    """Wait `delay` seconds (noticing a hang-up meanwhile), then send `data` as one HTTP chunk."""

    data: bytes
    delay: float = 0.0


@dataclass(frozen=True)
class Pause:
    """Send nothing for `seconds` (a model thinking, a tool running): heartbeats must cover this."""

    seconds: float


@dataclass(frozen=True)
class Repeat:
    """Send the same `data` as `count` chunks back to back: a cheap way to stream a lot of bytes."""

    data: bytes
    count: int


@dataclass(frozen=True)
class Abort:
    """Drop the connection without the terminating chunk, so the client's read fails.

    `reset=True` sends a TCP RST instead of a FIN.
    """

    reset: bool = False


@dataclass(frozen=True)
class Until:
    """Send nothing until `seen` is set (the test saw the previous chunk reach its client), for at most
    `timeout` seconds. A lock-step script: a relay that holds a chunk back stalls the script rather than
    merely slowing it, so the test can tell without measuring latency on a loaded machine."""

    seen: threading.Event
    timeout: float = 5.0


Step = Chunk | Pause | Repeat | Abort | Until


def lockstep(items: Sequence[T], seen: Sequence[threading.Event]) -> list[T | Until]:
    """`items` with `Until(seen[i])` after item i: each item leaves once the test has the one before."""
    return [step for item, event in zip(items, seen, strict=True) for step in (item, Until(event))]


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response.

    With `body` set it is sent whole with a Content-Length; otherwise `steps` make a chunked body.
    `delay` holds back the status line too (time to first byte), noticing a hang-up meanwhile.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    steps: tuple[Step, ...] = ()
    delay: float = 0.0
    # A Content-Length other than the body's: more than it, and the answer is cut short.
    declared_length: int | None = None


@dataclass
class Request:
    """A request as the fake received it. Header names are lower-cased; `params` are decoded path params."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)


# "stopped": the fake was shut down while the reply was still playing; "halted": the service ended it
# (e.g. AgentCore's StopRuntimeSession for its session) and dropped the connection.
Outcome = Literal["completed", "aborted", "disconnected", "stopped", "halted"]


@dataclass
class Exchange:
    """One request and what the fake did about it; filled in live from the server thread."""

    request: Request
    reply: Reply
    headers_sent_at: float | None = None
    # (perf_counter just before the chunk was handed to the kernel, chunk bytes), in order. Before, not
    # after: sendall releases the GIL, and taking it back behind the fake's other threads would stamp a
    # chunk late and shorten every lag measured against it. A chunk is listed once it is sent, so a fast
    # client can hold the bytes a few microseconds before they are listed: wait for `done` before
    # reading the complete list.
    sent_at: list[tuple[float, bytes]] = field(default_factory=list)
    # Set the moment the client is seen hanging up before the reply finished.
    disconnected: threading.Event = field(default_factory=threading.Event)
    disconnected_at: float | None = None
    outcome: Outcome | None = None
    # Set once the reply is over, whatever the outcome.
    done: threading.Event = field(default_factory=threading.Event)
    # Set by `end()`: the service ends the reply where it stands (see `FakeServer.answer`).
    halt: threading.Event = field(default_factory=threading.Event)
    _socket: socket.socket | None = None

    def end(self) -> None:
        """End the reply now, from any thread: the connection is shut, which wakes the reply's thread."""
        self.halt.set()
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    @property
    def chunks(self) -> list[bytes]:
        return [data for _, data in self.sent_at]


def chunks(items: Iterable[bytes | Step], delay: float = 0.0) -> tuple[Step, ...]:
    """Turn a mix of raw bytes and steps into steps; bare bytes become `Chunk(data, delay)`."""
    return tuple(Chunk(item, delay) if isinstance(item, bytes) else item for item in items)


@functools.cache
def error_status(service: str, code: str) -> int:
    """The HTTP status the botocore model gives error `code` of `service` (e.g. 402 for quota)."""
    model = botocore.session.get_session().get_service_model(service)
    shape = model.shape_for(code)
    return shape.metadata["error"]["httpStatusCode"]


def rest_json_error(service: str, code: str, message: str, status: int | None = None) -> Reply:
    """A rest-json error reply, parsed by botocore into `ClientError` with Error.Code == `code`."""
    body = json.dumps({"message": message}).encode()
    headers = (("Content-Type", "application/json"), ("x-amzn-ErrorType", code))
    return Reply(status=status or error_status(service, code), headers=headers, body=body)


class _Disconnected(Exception):
    """The client went away before the reply finished."""


class _Stopped(Exception):
    """The fake is shutting down."""


class _Halted(Exception):
    """The service ends this reply itself (`Exchange.halt`)."""


class FakeServer:
    """Base class: serves scripted `Reply`s on 127.0.0.1 in a background thread; use it as a context manager.

    Subclasses set `routes` (compiled regexes whose named groups become `Request.params`) and may
    override `extra_headers`. Requests that match no route get a 404 `UnknownOperationException`.

    Scripting: `respond_with(reply)` sets the reply for every request; `queue(*replies)` adds one-shot
    replies that are used first, in order. Recording: `exchanges` (one `Exchange` per request),
    `requests`, `last`, `sent_at` (of the last exchange), `disconnected` / `disconnected_at` (any
    exchange), and `errors` (unexpected exceptions in the server thread; should stay empty).
    """

    routes: Sequence[re.Pattern[str]] = ()
    service = ""  # botocore service name
    endpoint_env = ""  # the AWS_ENDPOINT_URL_* variable that points boto3 at this service

    def __init__(self, default: Reply | None = None) -> None:
        self._default = default or Reply(status=500, body=b'{"message": "no scenario set"}')
        self._queue: collections.deque[Reply] = collections.deque()
        self._choose: Callable[[Request], Reply | None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._live: set[socket.socket] = set()
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None
        self.exchanges: list[Exchange] = []
        self.errors: list[BaseException] = []
        self.disconnected = threading.Event()
        self.disconnected_at: float | None = None
        self.url = ""
        # Off: each reply says `Connection: close`. On: the connection stays open for the next request, as
        # HTTP/1.1 persistent connections do and AWS's SDKs rely on ("HTTP keep-alive is on by default in
        # modular AWS SDK for JavaScript", AWS Developer Tools Blog); `connections` counts the connections
        # that brought requests.
        self.keep_alive = False
        self.connections = 0

    # -- scripting -------------------------------------------------------------------------

    def respond_by(self, choose: Callable[[Request], Reply | None] | None) -> None:
        """Answer each request with `choose(request)` where that is not None (before queued replies):
        for scripts that depend on who asks, e.g. by session, whatever order the requests come in."""
        self._choose = choose

    def respond_with(self, reply: Reply) -> None:
        """Answer every request (after any queued replies) with `reply`."""
        self._default = reply

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, one each, before falling back to the default."""
        with self._lock:
            self._queue.extend(replies)

    # -- recording -------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        return [exchange.request for exchange in self.exchanges]

    @property
    def calls(self) -> int:
        """How many requests reached the fake: what a retry policy really sent."""
        return len(self.exchanges)

    @property
    def last(self) -> Exchange:
        if not self.exchanges:
            raise AssertionError("the fake has received no request")
        return self.exchanges[-1]

    @property
    def sent_at(self) -> list[tuple[float, bytes]]:
        return self.last.sent_at

    def wait_for_request(self, timeout: float = 5.0) -> Exchange:
        """Block until at least one request has arrived; returns the latest exchange."""
        deadline = time.monotonic() + timeout
        while not self.exchanges:
            if time.monotonic() > deadline:
                raise TimeoutError("no request reached the fake")
            time.sleep(0.005)
        return self.last

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._server = _TCPServer(self)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        serve = functools.partial(self._server.serve_forever, poll_interval=_STOP_POLL / 2)
        self._thread = threading.Thread(target=serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        # Unblock handlers stuck writing to a client that stopped reading.
        with self._lock:
            live = list(self._live)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads
        self._thread.join(5)

    # -- pointing clients at the fake ------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """Environment that points a boto3 client (in this or a child process) at the fake."""
        return {
            self.endpoint_env: self.url,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    @contextlib.contextmanager
    def for_this_process(self, monkeypatch: Any) -> Iterator[Self]:
        """The fake started, with this process's AWS clients pointed at it (`env`), as the app makes them
        for itself; `monkeypatch` (pytest's) puts the environment back afterwards."""
        with self:
            for name, value in self.env.items():
                monkeypatch.setenv(name, value)
            yield self

    def client(self, **config: Any) -> Any:
        """A real boto3 client for the fake, without retries; `config` overrides `botocore.config.Config`."""
        # Not `max_attempts`: that counts retries only, so 1 still means two requests.
        options = {"retries": {"total_max_attempts": 1}, **config}
        return boto3.client(
            self.service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(**options),
        )

    # -- hooks for subclasses --------------------------------------------------------------

    def extra_headers(self, request: Request) -> list[tuple[str, str]]:
        """Headers added to every reply to `request` (after the scripted ones)."""
        return []

    def answer(self, request: Request) -> Reply | None:
        """The service's own reply to `request` (an operation the fake models rather than scripts), or
        None for the scripted one. Requests answered here are not recorded in `exchanges`."""
        return None

    # -- serving (runs in handler threads) -------------------------------------------------

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._queue.popleft() if self._queue else self._default

    def _route(self, method: str, path: str) -> dict[str, str] | None:
        for pattern in self.routes:
            match = pattern.fullmatch(path)
            if match and method == "POST":
                return {name: unquote(value) for name, value in match.groupdict().items()}
        return None

    def _handle(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._live.add(sock)
        try:
            with self._lock:
                self.connections += 1
            while self._exchange_one(sock):
                pass
        finally:
            with self._lock:
                self._live.discard(sock)

    def _exchange_one(self, sock: socket.socket) -> bool:
        """Read one request on `sock` and play its reply; True if the connection may carry another."""
        request = read_request(sock)
        if request is None:
            return False
        params = self._route(request.method, request.path)
        own = None
        if params is None:
            reply = rest_json_error("", "UnknownOperationException", "no such route", status=404)
        else:
            request.params = params
            own = self.answer(request)
            reply = own or (self._choose and self._choose(request)) or self._next_reply()
        exchange = Exchange(request, reply, _socket=sock)
        if own is None:
            self.exchanges.append(exchange)
        _Player(self, sock, exchange).play()
        return self.keep_alive and exchange.outcome == "completed"

    def _record_disconnect(self, exchange: Exchange) -> None:
        now = time.perf_counter()
        exchange.disconnected_at = now
        exchange.outcome = "disconnected"
        exchange.disconnected.set()
        if self.disconnected_at is None:
            self.disconnected_at = now
        self.disconnected.set()


def read_request(sock: socket.socket) -> Request | None:
    rfile = sock.makefile("rb")
    try:
        request_line = rfile.readline(65537).decode("latin-1").rstrip("\r\n")
        if not request_line:
            return None
        method, target, _version = request_line.split(" ", 2)
        message = http.client.parse_headers(rfile)
        headers = {name.lower(): value for name, value in message.items()}
        if headers.get("expect", "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = rfile.read(int(headers.get("content-length", "0")))
    finally:
        # Anything it buffered past the body is dropped: a connection carries one request.
        rfile.close()
    url = urlsplit(target)
    return Request(method, url.path, parse_qs(url.query, keep_blank_values=True), headers, body)


class _Player:
    """Writes one scripted reply to one socket, recording as it goes."""

    def __init__(self, fake: FakeServer, sock: socket.socket, exchange: Exchange) -> None:
        self.fake = fake
        self.sock = sock
        self.exchange = exchange

    def play(self) -> None:
        reply = self.exchange.reply
        try:
            self._wait(reply.delay)
            self._send_head(reply)
            if reply.body is not None:
                self._send(reply.body, listed=reply.body)
            else:
                for step in reply.steps:
                    if isinstance(step, Abort):
                        self._abort(step)
                        return
                    self._play_step(step)
                self._send(b"0\r\n\r\n")
            self.exchange.outcome = "completed"
        except _Disconnected:
            self.fake._record_disconnect(self.exchange)
        except _Stopped:
            self.exchange.outcome = "stopped"
        except _Halted:
            self.exchange.outcome = "halted"
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        finally:
            self.exchange.done.set()

    def _play_step(self, step: Step) -> None:
        if isinstance(step, Chunk):
            self._wait(step.delay)
            self._send_chunk(step.data)
        elif isinstance(step, Pause):
            self._wait(step.seconds)
        elif isinstance(step, Until):
            self._wait(step.timeout, until=step.seen)
        elif isinstance(step, Repeat):
            for _ in range(step.count):
                self._send_chunk(step.data)

    def _send_head(self, reply: Reply) -> None:
        headers = list(reply.headers)
        headers += self.fake.extra_headers(self.exchange.request)
        headers.append(("x-amzn-RequestId", str(uuid.uuid4())))
        if reply.body is not None:
            length = len(reply.body) if reply.declared_length is None else reply.declared_length
            headers.append(("Content-Length", str(length)))
        else:
            headers.append(("Transfer-Encoding", "chunked"))
        if not self.fake.keep_alive:
            headers.append(("Connection", "close"))
        reason = http.client.responses.get(reply.status, "Unknown")
        lines = [f"HTTP/1.1 {reply.status} {reason}"] + [f"{name}: {value}" for name, value in headers]
        self.exchange.headers_sent_at = self._send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def _send_chunk(self, data: bytes) -> None:
        self._check_connected()
        self._send(b"%x\r\n%b\r\n" % (len(data), data), listed=data)

    def _send(self, wire: bytes, listed: bytes | None = None) -> float:
        """Send `wire`; with `listed`, add it to `sent_at` once sent. Returns when the send began."""
        began = time.perf_counter()
        try:
            self.sock.sendall(wire)
        except OSError as error:
            raise self._gone() from error
        if listed is not None:
            self.exchange.sent_at.append((began, listed))
        return began

    def _check_connected(self) -> None:
        if self.exchange.halt.is_set():
            raise _Halted
        # A write to a peer that has just closed still succeeds once, so look for its FIN first.
        if _readable(self.sock, 0):
            self._drain_or_raise()

    def _wait(self, seconds: float, until: threading.Event | None = None) -> None:
        """Sleep, but wake the moment the client hangs up or the server stops; with `until`, the moment it
        is set (a hang-up is then noticed within `_STOP_POLL`)."""
        deadline = time.perf_counter() + seconds
        while (remaining := deadline - time.perf_counter()) > 0:
            if self.fake._stopping.is_set():
                raise _Stopped
            if self.exchange.halt.is_set():
                raise _Halted
            # Waiting on the event itself, the next chunk leaves the moment the test sets it.
            if until is not None and until.wait(min(remaining, _STOP_POLL)):
                return
            timeout = 0 if until is not None else min(remaining, _STOP_POLL)
            if _readable(self.sock, timeout):
                self._drain_or_raise()

    def _drain_or_raise(self) -> None:
        try:
            data = self.sock.recv(65536)
        except OSError as error:
            raise self._gone() from error
        if not data:
            raise self._gone()
        # Anything else the client sends is ignored: each connection carries one request.

    def _gone(self) -> Exception:
        # Stopping the fake (or ending the reply) shuts its socket down, which looks just like a client
        # hanging up.
        if self.exchange.halt.is_set():
            return _Halted()
        return _Stopped() if self.fake._stopping.is_set() else _Disconnected()

    def _abort(self, step: Abort) -> None:
        # Recorded first: the client may already be looking once the FIN or RST is out.
        self.exchange.outcome = "aborted"
        if step.reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _readable(sock: socket.socket, timeout: float) -> bool:
    """Whether `sock` has bytes (or its peer's FIN) within `timeout` seconds. poll(2), not select(2):
    a crowd of connections takes descriptors above 1023, which select cannot watch."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        self.server.fake._handle(self.request)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    # socketserver's default backlog of 5 would make a crowd of callers wait for SYN retries (1 s, 3 s):
    # a service takes hundreds of connections at once.
    request_queue_size = 1024
    daemon_threads = False  # so server_close() waits for in-flight replies
    block_on_close = True

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # Client hang-ups are expected; anything else is a bug in the fake that tests should see.
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, OSError):
            self.fake.errors.append(error)
