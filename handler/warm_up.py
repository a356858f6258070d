"""Load the first request's path before the app says it is ready.

With provisioned concurrency Lambda freezes the environment right after the readiness check: whatever
is loaded lazily after it (the relay's tasks, hand-over and timeouts, how calls and body closers get
their threads) would load on the first caller's time instead.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

from starlette.types import Message

from handler import sse
from handler.backends import calls
from handler.relay import RelayResponse
from handler.upstream import Upstream


async def first_request_path() -> None:
    """One answer relayed in memory, from the opening to the last byte."""

    async def chunks() -> AsyncIterator[bytes]:
        yield sse.event({"type": "text", "text": "warm-up"})

    async def opener() -> Upstream:
        return Upstream(sse.MEDIA_TYPE, chunks())

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client never leaves; the relay ends the watch itself
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        return None

    relay = RelayResponse(opener, {}, heartbeat_seconds=60, error_headers={}, open_grace_seconds=1)
    await relay({"type": "http", "state": {}}, receive, send)
    await asyncio.wrap_future(calls.in_own_thread(lambda: None))  # how calls and body closers get their threads


def settle_heap() -> None:
    """If start-up ran without the cyclic collector (`python -m handler` turns it off first thing), move
    everything it made out of the collector's sight and turn the collector back on: what is loaded now
    lives as long as the process, and a full collection that walked it again would stall every stream
    under way (some 20 ms here for ~70 000 objects)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
