"""What both AWS backends share: a botocore client made off the start-up path, calls that never block
the event loop, error mapping, and a relay of a blocking body that can be cut off from another thread.

boto3 is imported here only inside functions: importing it is most of a cold start, so the client is
made on a background thread while the server starts and answers its readiness check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import select
import threading
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import anyio

from handler.body_reader import BodyReader
from handler.upstream import Upstream, UpstreamError

# Each call waiting for an answer's first byte holds a thread; anyio's default pool of 40 would make
# the 41st concurrent stream wait for someone else's agent.
MAX_CONCURRENT_CALLS = 256
# What a client is told when AWS cannot be reached; the reason (endpoint URL and all) is for the log.
UNREACHABLE = "the upstream could not be reached"
_CALLS = concurrent.futures.ThreadPoolExecutor(max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="aws-call")


class Client:
    """A boto3 client for `service`, either handed in (tests) or being made on a background thread."""

    def __init__(self, service: str, ready: Any = None) -> None:
        self._made: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if ready is not None:
            self._made.set_result(ready)
        else:
            threading.Thread(target=self._make, args=(service,), name=f"{service}-client", daemon=True).start()

    async def call(self, operation: str, /, *, discard: Callable[[Any], object], **kwargs: Any) -> Any:
        """Run a blocking botocore call off the event loop, mapping its failures to `UpstreamError`.

        If the caller is cancelled (the client left) while the call is under way, `discard` gets its
        result when it comes, so an answer nobody will read is closed rather than left open.
        """
        try:
            client = await asyncio.wrap_future(self._made)
        except Exception as error:
            raise UpstreamError("UpstreamUnavailable", UNREACHABLE, f"no AWS client: {error!r}") from error
        from botocore.exceptions import BotoCoreError, ClientError

        pending = _CALLS.submit(partial(getattr(client, operation), **kwargs))
        try:
            return await asyncio.wrap_future(pending)
        except asyncio.CancelledError:
            pending.add_done_callback(partial(_discard_result, discard))
            raise
        except ClientError as error:
            raise upstream_error(error) from error
        except BotoCoreError as error:
            raise UpstreamError("UpstreamUnavailable", UNREACHABLE, repr(error)) from error

    def _make(self, service: str) -> None:
        try:
            import boto3
            from botocore.config import Config

            # An agent may think for minutes before its first byte; the Lambda's timeout (<= 900 s) bounds it.
            config = Config(
                connect_timeout=5,
                read_timeout=900,
                retries={"mode": "standard", "total_max_attempts": 3},
                tcp_keepalive=True,
                # One pooled connection per concurrent answer (botocore's default of 10 queues the 11th).
                max_pool_connections=MAX_CONCURRENT_CALLS,
                user_agent_extra="streamgate",
            )
            self._made.set_result(boto3.client(service, config=config))
        except Exception as error:  # surfaces on the first call, as a 502 with its reason
            self._made.set_exception(error)


def _discard_result(discard: Callable[[Any], object], done: concurrent.futures.Future) -> None:
    if not done.cancelled() and done.exception() is None:
        with contextlib.suppress(Exception):
            discard(done.result())


def upstream_error(error: Any) -> UpstreamError:
    """A botocore `ClientError` (an `EventStreamError` too) as the upstream's code and message."""
    details = error.response.get("Error", {})
    message = details.get("Message") or "the upstream failed"
    return UpstreamError(details.get("Code") or "UpstreamError", message, str(error))


def threaded_body(read1: Callable[[int], bytes], raw: Any, media_type: str) -> Upstream:
    """An answer read by `read1` on its own thread from the urllib3 response `raw`, forwarded as it
    arrives. For a plain body `read1` is `raw.read1`: it returns whatever has arrived, where botocore's
    `iter_chunks`/`iter_lines` would wait for their chunk size to fill and so buffer a slow answer."""
    # botocore turns urllib3's length check off; without it an answer cut short looks complete.
    raw.enforce_content_length = True
    reader = BodyReader(read1, more_waiting=_readable(raw))

    async def close() -> None:
        reader.close()
        await close_raw(raw)

    return Upstream(media_type, _with_upstream_errors(reader.chunks()), close)


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


async def _with_upstream_errors(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    from botocore.exceptions import ClientError

    try:
        async for chunk in chunks:
            yield chunk
    except UpstreamError:
        raise
    except ClientError as error:  # e.g. an exception event in a model's event stream
        raise upstream_error(error) from error
    except Exception as error:  # urllib3's ProtocolError, a reset socket, a read cut off by close()
        raise UpstreamError("UpstreamInterrupted", "the upstream's answer broke off", repr(error)) from error


async def close_raw(raw: Any) -> None:
    """Close a urllib3 response even while a thread is blocked reading it."""
    # shutdown() wakes a blocked read at once; close() then drops the connection, so the upstream
    # stops generating (and billing) for a client that has gone.
    with contextlib.suppress(Exception):
        raw.shutdown()
    # Off the event loop: should a reader thread still hold the body's lock, close() would wait for it.
    with contextlib.suppress(Exception):
        await anyio.to_thread.run_sync(raw.close)
