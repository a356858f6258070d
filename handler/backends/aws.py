"""What both AWS backends share: a botocore client made off the start-up path, calls that never block
the event loop, error mapping, and a relay of a blocking body that can be cut off from another thread.

botocore is imported here only inside functions: importing it is most of a cold start, so the client is
made on a background thread while the server starts. botocore rather than boto3: boto3 adds nothing this
app uses, and importing it (it pulls in s3transfer) costs about as much again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import select
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

from handler.backends import calls, hangup, http_body
from handler.body_reader import BodyReader
from handler.upstream import Upstream, UpstreamError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Pooled connections (and threads for the items of event streams): anyio's default pool of 40 would
# make the 41st concurrent stream wait for someone else's model.
MAX_CONCURRENT_CALLS = 256
# What a client is told when AWS cannot be reached; the reason (endpoint URL and all) is for the log.
UNREACHABLE = "the upstream could not be reached"
_CALLS = concurrent.futures.ThreadPoolExecutor(max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="aws-call")
_CLEANUP = calls.CleanupLane()

# How many times botocore may send one call. InvokeAgentRuntime is not idempotent (an agent's tools
# may have side effects): one attempt, whatever fails — botocore's default would send it again on a
# 5xx, a broken connection or a read timeout, and a stall before the headers would cost 3 x read_timeout.
# ConverseStream fails on throttling and 5xx before any event is relayed, so retrying it is safe.
ATTEMPTS = {"bedrock-agentcore": 1, "bedrock-runtime": 3}


def client_config(service: str, **overrides: Any) -> Any:
    """The botocore `Config` for `service`; `overrides` (e.g. a short read_timeout in tests) win."""
    import botocore
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": 5,
        # An agent may think for minutes before its first byte; the Lambda's timeout (<= 900 s) bounds it.
        "read_timeout": 900,
        "retries": {"mode": "standard", "total_max_attempts": ATTEMPTS[service]},
        "tcp_keepalive": True,
        # One pooled connection per concurrent answer (botocore's default of 10 queues the 11th).
        "max_pool_connections": MAX_CONCURRENT_CALLS,
        # Fixed once: botocore otherwise rebuilds its User-Agent (platform, features and all) for every call,
        # about 0.4 ms of CPU each, which sixteen streams opening at once take from the ones already open.
        "user_agent": f"botocore/{botocore.__version__}",
        "user_agent_extra": "streamgate",
        **overrides,
    }
    return Config(**options)


def make_client(service: str, region: str | None, **overrides: Any) -> Any:
    """A botocore client for `service` in `region` (botocore alone reads AWS_DEFAULT_REGION, not AWS_REGION)."""
    import botocore.session

    from handler.backends import data_loader, response_parsers

    session = botocore.session.Session()
    # The same files as botocore's own loader reads, found and parsed with less work (see data_loader).
    session.register_component("data_loader", data_loader.loader_for(session.get_config_variable("data_path")))
    session.register_component("response_parser_factory", response_parsers.ParserPerProtocol())
    return session.create_client(service, region_name=region, config=client_config(service, **overrides))


class Client:
    """A client for `service`, either handed in (tests) or being made on a background thread.

    `warm_up(client)` runs on that thread once the client exists, so work the first request would do
    (loading the operation's models, resolving credentials) is done before the app says it is ready.
    """

    def __init__(
        self,
        service: str,
        region: str | None = None,
        ready: Any = None,
        warm_up: Callable[[Any], object] | None = None,
        **overrides: Any,
    ) -> None:
        self.service = service
        self._made: concurrent.futures.Future[Any] = concurrent.futures.Future()
        # Running from the start, so a caller cancelled while waiting for it cannot cancel it for everyone.
        self._made.set_running_or_notify_cancel()
        if ready is not None:
            self._made.set_result(calls.watch(ready))
        else:
            make = partial(self._make, service, region, warm_up, overrides)
            threading.Thread(target=make, name=f"{service}-client", daemon=True).start()

    async def ready(self) -> str | None:
        """Wait until the client is made (and warm): None then, or why it could not be made."""
        try:
            await asyncio.wrap_future(self._made)
        except Exception as error:
            return f"no AWS client for {self.service}: {error}"
        return None

    async def call(
        self,
        operation: str,
        /,
        *,
        discard: Callable[[Any], object],
        abandoned: Callable[[], object] = lambda: None,
        **kwargs: Any,
    ) -> Any:
        """Run a blocking botocore call off the event loop, mapping its failures to `UpstreamError`.

        If the caller is cancelled (the client left) while the call is under way, `abandoned()` runs if
        the request had gone out (to stop the work it started), and `discard` gets its result when it
        comes, so an answer nobody will read is closed rather than left open.
        """
        return await self._call(operation, kwargs, discard, abandoned)

    async def call_with_body(
        self,
        operation: str,
        /,
        *,
        body_of: Callable[[Any], Any],
        media_type: str,
        abandoned: Callable[[], object] = lambda: None,
        **kwargs: Any,
    ) -> tuple[Any, Upstream]:
        """`call` for an answer with a streaming body, `body_of(response)` (its urllib3 response): the
        response, and the body as an Upstream. The call's own thread goes on to read the body the moment
        the call returns. A thread started for the reading would first wait for the GIL, which other
        answers opening at the same time hold for milliseconds at a stretch, and the first event with it."""
        connected = calls.CLIENT_CONNECTED.get()
        loop = asyncio.get_running_loop()

        def with_body(response: Any) -> tuple[Any, CallThreadBody]:
            return response, CallThreadBody(body_of(response), media_type, connected)

        response, body = await self._call(
            operation,
            kwargs,
            discard=lambda opened: opened[1].discard(),
            abandoned=abandoned,
            prepare=with_body,
            then=lambda opened: opened[1].reader.read_here(loop),
        )
        return response, body.upstream

    async def _call(
        self,
        operation: str,
        kwargs: dict[str, Any],
        discard: Callable[[Any], object],
        abandoned: Callable[[], object],
        prepare: Callable[[Any], Any] | None = None,
        then: Callable[[Any], object] | None = None,
    ) -> Any:
        """`operation(**kwargs)` on a thread of its own, `prepare`d there, then `then` on that thread."""
        try:
            client = await asyncio.wrap_future(self._made)
        except Exception as error:
            raise UpstreamError("UpstreamUnavailable", UNREACHABLE, f"no AWS client: {error!r}") from error
        from botocore.exceptions import BotoCoreError, ClientError

        action = partial(getattr(client, operation), **kwargs)
        call = calls.Call()
        run = partial(call.run, action if prepare is None else lambda: prepare(action()))
        pending = calls.in_own_thread(run, then)
        try:
            return await asyncio.wrap_future(pending)
        except asyncio.CancelledError:
            if call.abandon():
                abandoned()
            pending.add_done_callback(partial(_discard_result, discard))
            raise
        except calls.Abandoned:
            raise UpstreamError("ClientGone", "the client left before the call was sent") from None
        except calls.NoThread as error:
            raise UpstreamError("Overloaded", "the function is too busy for another call", repr(error)) from error
        except ClientError as error:
            raise upstream_error(error) from error
        except BotoCoreError as error:
            raise UpstreamError("UpstreamUnavailable", UNREACHABLE, repr(error)) from error
        finally:
            # A failure's traceback holds this frame, and the future holds the failure: a reference cycle.
            del pending

    def fire(self, operation: str, /, **kwargs: Any) -> None:
        """Start a call nobody waits for (e.g. stopping a session for a client that left); a failure is
        logged. Without a client yet there is nothing to act on: no call of this client got anywhere.

        Such calls clean up after clients that left, so they take a lane of their own that waits for
        the departures to pause: in a storm they must not queue ahead of (or crowd out) the callers
        who stayed, nor slow the hearing of the next hang-up."""
        if not self._made.done() or self._made.exception() is not None:
            return
        client = self._made.result()

        def run() -> None:
            try:
                getattr(client, operation)(**kwargs)
            except Exception as error:
                log.warning("streamgate: %s %s failed: %r", self.service, operation, error)

        _CLEANUP.submit(run)

    def _make(self, service: str, region: str | None, warm_up: Callable[[Any], object] | None, overrides: dict) -> None:
        try:
            client = calls.watch(make_client(service, region, **overrides))
            if warm_up is not None:
                # On a call thread, so the pool's first thread starts now, not on the first request.
                _CALLS.submit(warm_up, client).result()
        except Exception as error:
            # Loud, once: readiness fails with this reason, so the function's init fails.
            log.error("streamgate: the %s client could not be made: %s", service, error)
            self._made.set_exception(error)
        else:
            self._made.set_result(client)


def rehearse(client: Any, operation: str, **params: Any) -> None:
    """One call of `operation` all the way to the wire and back (parameters validated and serialised,
    endpoint rules, credentials resolved, the request signed, an answer parsed) with an empty canned
    200 in place of the network: what the first real call would otherwise load on a user's time."""
    import urllib3
    from botocore.awsrequest import AWSResponse

    name = client.meta.method_to_api_mapping[operation]
    event = f"before-send.{client.meta.service_model.service_id.hyphenize()}.{name}"

    def canned(request: Any, **_: Any) -> AWSResponse:
        raw = urllib3.HTTPResponse(body=b"", status=200, preload_content=False)
        return AWSResponse(request.url, 200, {}, raw)

    client.meta.events.register(event, canned, unique_id="streamgate-rehearsal")
    try:
        answer = getattr(client, operation)(**params)
    finally:
        client.meta.events.unregister(event, unique_id="streamgate-rehearsal")
    for value in answer.values():
        with contextlib.suppress(Exception):
            value.close()  # the streaming body (or event stream) of the canned answer


def _discard_result(discard: Callable[[Any], object], done: concurrent.futures.Future) -> None:
    if not done.cancelled() and done.exception() is None:
        with contextlib.suppress(Exception):
            discard(done.result())


def upstream_error(error: Any) -> UpstreamError:
    """A botocore `ClientError` (an `EventStreamError` too) as the upstream's code and message."""
    details = error.response.get("Error", {})
    message = details.get("Message") or "the upstream failed"
    return UpstreamError(details.get("Code") or "UpstreamError", message, str(error))


class CallThreadBody:
    """The body of the urllib3 response `raw` as `upstream`, forwarded as it arrives, read by the thread
    that calls `reader.read_here` (see `Client.call_with_body`). Each read returns whatever has arrived
    (see `http_body`), where botocore's `iter_chunks` and `iter_lines` would wait for their chunk size
    to fill and so buffer a slow answer. Between reads the thread also listens for the client hanging
    up (see `hangup`): `connected` is the request's connection check (`calls.CLIENT_CONNECTED`)."""

    def __init__(self, raw: Any, media_type: str, connected: Callable[[], bool]) -> None:
        self._raw = raw
        read1 = http_body.reader(raw, _watching(raw, connected))
        self.reader = BodyReader(read1, more_waiting=_readable(raw))
        chunks = _with_upstream_errors(self.reader.chunks())
        # Closed by a function of the reader and the response, not by a method of this object: the
        # upstream is kept here, and a cycle would leave the answer's objects to the garbage collector.
        closing = partial(_end_read, self.reader, raw)
        self.upstream = Upstream(media_type, chunks, closing, abandon=partial(hang_up, raw))

    def discard(self) -> None:
        """An answer nobody will read: stop reading it, and close its connection."""
        self.reader.close()
        close_raw(self._raw)


async def _end_read(reader: BodyReader, raw: Any) -> None:
    """Stop reading `raw`: its connection goes back to the pool if the answer was read to its end."""
    reader.close()
    if reader.read_to_end:
        release(raw)
    else:
        close_raw(raw)


def release(raw: Any) -> None:
    """Give the connection under an answer read to its end back to botocore's pool: the next call reuses
    it instead of paying for a new TCP connection and TLS handshake. A connection that cannot be given
    back is closed."""
    try:
        raw._fp.close()  # http.client's response, whose body was read from under it (see http_body)
        raw.release_conn()
    except Exception:
        close_raw(raw)


def threaded_items(items: Iterator[T], raw: Any) -> tuple[AsyncIterator[T], Callable[[], Any]]:
    """The items of a blocking iterator over the urllib3 response `raw` (e.g. botocore's EventStream),
    each fetched on the call pool so the event loop never waits, and how to close it mid-read."""

    async def close() -> None:
        close_raw(raw)

    return _with_upstream_errors(_fetched(items)), close


async def _fetched(items: Iterator[T]) -> AsyncIterator[T]:
    end = object()
    while (item := await asyncio.wrap_future(_CALLS.submit(next, items, end))) is not end:
        yield item  # type: ignore[misc]


def _watching(raw: Any, connected: Callable[[], bool]) -> Callable[[Any], Any] | None:
    """How to make the reads of `raw` hear the client of `connected` hang up, if both sockets are known."""
    upstream = socket_of(raw)
    client_fd = getattr(connected, "fileno", lambda: -1)()
    if upstream is None or client_fd < 0:
        return None
    return lambda file: hangup.WatchedFile(file, upstream, client_fd, partial(hang_up, raw))


def _readable(raw: Any) -> Callable[[], bool]:
    """Whether the response's socket has bytes waiting already (a read now would not block)."""
    sock = socket_of(raw)
    if sock is None:
        return lambda: False
    poller = select.poll()  # not select(): that fails for descriptors above 1023
    poller.register(sock, select.POLLIN)

    def readable() -> bool:
        try:
            return bool(poller.poll(0))
        except OSError:  # closed under us: the next read will say so
            return False

    return readable


def socket_of(raw: Any) -> Any:
    """The socket under a urllib3 response (http.client keeps it in the body's file object), or None:
    without it reads are simply not coalesced."""
    file = getattr(getattr(raw, "_fp", None), "fp", None)
    return getattr(getattr(file, "raw", None), "_sock", None)


async def _with_upstream_errors(chunks: AsyncIterator[T]) -> AsyncIterator[T]:
    from botocore.exceptions import ClientError

    try:
        async for chunk in chunks:
            yield chunk
    except UpstreamError:
        raise
    except hangup.ClientGone:
        raise UpstreamError("ClientGone", "the client left", "heard by the reading thread") from None
    except ClientError as error:  # e.g. an exception event in a model's event stream
        raise upstream_error(error) from error
    except Exception as error:  # urllib3's ProtocolError, a reset socket, a read cut off by close()
        raise UpstreamError("UpstreamInterrupted", "the upstream's answer broke off", repr(error)) from error


def hang_up(raw: Any) -> None:
    """End the connection under a urllib3 response now, from the event loop (it does not block): a
    blocked read wakes, and the upstream gets the FIN at once, so it stops generating (and billing).

    urllib3's own shutdown() is SHUT_RD, which wakes the read but tells the upstream nothing; the FIN
    otherwise waits for close(), which may wait for a thread."""
    with contextlib.suppress(Exception):
        raw.shutdown()
    sock = socket_of(raw)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def close_raw(raw: Any) -> None:
    """Close a urllib3 response even while a thread is blocked reading it, telling the upstream at once."""
    hang_up(raw)
    # close() releases the descriptor; off the event loop, as a reader thread may still hold the
    # body's lock, and not awaited: the upstream has been told already.
    calls.in_own_thread(partial(_quietly, raw.close))


def _quietly(action: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):
        action()
