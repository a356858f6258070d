"""Load the first request's path before the app says it is ready.

With provisioned concurrency Lambda freezes the environment right after the readiness check: whatever
is loaded lazily after it (anyio's asyncio backend, the relay's task group, memory streams and
timeouts, anyio's worker thread) would load on the first caller's time instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.types import Message

from handler import sse
from handler.relay import RelayResponse
from handler.upstream import Upstream


async def first_request_path() -> None:
    """One answer relayed in memory, from the opening to the last byte."""

    async def chunks() -> AsyncIterator[bytes]:
        yield sse.event({"type": "text", "text": "warm-up"})

    async def opener() -> Upstream:
        return Upstream(sse.MEDIA_TYPE, chunks())

    async def receive() -> Message:
        await anyio.sleep_forever()  # the client never leaves; the relay ends the watch itself
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        return None

    relay = RelayResponse(opener, {}, heartbeat_seconds=60, error_headers={}, open_grace_seconds=1)
    await relay({"type": "http", "state": {}}, receive, send)
    await anyio.to_thread.run_sync(lambda: None)  # the thread that closes upstream bodies
