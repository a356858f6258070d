"""One item at a time from one task to another, nothing queued: how the pump hands over to the writer.

`give` returns once the taker has the item, so the giver reads no further ahead than the taker
writes. A taker already waiting gets the item in its future and the giver goes on in the same step.
An `asyncio.Queue(maxsize=1)` with `join()` does the same with a second future per item (join's) and a
third wake-up (the giver's, after the taker's `task_done`), which a token stream pays on every event.

A `take` that waits longer than it was told to gets `TIMED_OUT` (the writer's cue for a keep-alive): one
timer handle, armed only while it waits. `asyncio.timeout` would make, enter and reschedule a context
of its own for every item.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class _Signal:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


# What `take` returns when nothing came within its timeout.
TIMED_OUT = _Signal("TIMED_OUT")
_NOTHING = _Signal("NOTHING")


class Baton(Generic[T]):
    """For one giver and one taker. A taker cancelled after an item reached its future loses that item:
    in the relay the two are only ever cancelled together."""

    def __init__(self) -> None:
        self._item: T | _Signal = _NOTHING  # given, not yet taken
        self._giver: asyncio.Future[None] | None = None  # resolved when `_item` is taken
        self._taker: asyncio.Future[T | _Signal] | None = None  # waiting for an item

    async def give(self, item: T) -> None:
        """Hand `item` over; returns once the taker has it."""
        if self._hand_over(item):
            return
        self._giver = giver = asyncio.get_running_loop().create_future()
        try:
            await giver
        finally:
            if self._giver is giver:  # cancelled before it was taken: it was never handed over
                self._giver = None
                self._item = _NOTHING

    def give_nowait(self, item: T) -> None:
        """Hand `item` over without waiting for it to be taken (the giver's last word)."""
        self._hand_over(item)

    async def take(self, within: float) -> T | _Signal:
        """The next item, or `TIMED_OUT` if none came within `within` seconds."""
        if self._item is not _NOTHING:
            item, self._item = self._item, _NOTHING
            giver, self._giver = self._giver, None
            if giver is not None and not giver.done():
                giver.set_result(None)
            return item
        loop = asyncio.get_running_loop()
        self._taker = taker = loop.create_future()
        timer = loop.call_later(within, _time_out, taker)
        try:
            return await taker
        finally:
            timer.cancel()
            if self._taker is taker:
                self._taker = None

    def _hand_over(self, item: T) -> bool:
        """True if a waiting taker got `item`; otherwise it is left for the next `take`."""
        taker = self._taker
        if taker is not None and not taker.done():  # not one timed out or cancelled and yet to wake up
            self._taker = None
            taker.set_result(item)
            return True
        if self._item is not _NOTHING:
            raise RuntimeError("an item is already waiting to be taken")
        self._item = item
        return False


def _time_out(taker: asyncio.Future) -> None:
    if not taker.done():
        taker.set_result(TIMED_OUT)
