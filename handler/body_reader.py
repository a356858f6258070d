"""A blocking byte stream read on a thread of its own, handed to the event loop as it arrives.

One thread per answer reads as fast as the network delivers; the event loop takes everything that
has arrived since it last looked in one piece. A slow answer therefore goes out chunk by chunk with
no added delay, and a fast one in larger pieces with far fewer wake-ups. Reading pauses once `limit`
bytes wait between the two, which bounds memory (to a few times `limit`) whatever the upstream's speed.

The reading thread is whichever calls `read_here`: the thread that made the call, which would otherwise
hand over the answer and end while a new thread waits for the GIL before its first read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable

READ_SIZE = 1024 * 1024


class BodyReader:
    def __init__(
        self,
        read1: Callable[[int], bytes],
        more_waiting: Callable[[], bool] = lambda: False,
        limit: int = 1024 * 1024,
    ) -> None:
        self._read1 = read1
        self._more_waiting = more_waiting
        self._limit = limit
        self._parts: list[bytes] = []
        self._buffered = 0
        self._finished = False
        self._closed = False
        self._error: BaseException | None = None
        self._deferred: Exception | None = None
        self._at_end = False
        self._read_to_end = False
        self._room = threading.Condition()
        self._arrived = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """Everything read so far, joined, each time more arrives; raises what the read raised."""
        try:
            while True:
                await self._arrived.wait()
                with self._room:
                    self._arrived.clear()
                    parts, self._parts, self._buffered = self._parts, [], 0
                    finished = self._finished
                    self._room.notify()
                for piece in _coalesced(parts):
                    yield piece
                if finished:
                    self._raise_failure()
                    return
        finally:
            # Whoever stops iterating, the thread must not wait for room forever.
            self.close()

    @property
    def read_to_end(self) -> bool:
        """Whether the stream was read to its end, not cut off by `close` or a failed read."""
        return self._read_to_end

    def read_here(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the stream on the calling thread until it ends, fails or is closed, handing what arrives
        to `chunks()` on `loop`. Never raises."""
        self._loop = loop
        self._read_all()

    def close(self) -> None:
        """Stop reading; a read blocked in the network is the caller's to interrupt."""
        with self._room:
            self._closed = True
            self._error = None  # nobody will read it now; kept, it would be a cycle (see _raise_failure)
            self._room.notify()

    def _raise_failure(self) -> None:
        """Raise what made the read fail, if it failed. The error's traceback holds the reading thread's
        frames, which hold this reader: kept here, or in a frame of its traceback, it would make every
        failed answer a reference cycle, left to the cyclic garbage collector. So it is handed over."""
        with self._room:
            error, self._error = self._error, None
        if error is not None:
            try:
                raise error
            finally:
                del error

    def _read_all(self) -> None:
        try:
            while batch := self._read_batch():
                with self._room:
                    while self._buffered >= self._limit and not self._closed:
                        self._room.wait()
                    if self._closed:
                        return
                    wake = not self._parts
                    self._parts += batch
                    self._buffered += sum(map(len, batch))
                if wake:
                    self._wake()
            self._read_to_end = True
        except BaseException as error:  # handed to the event loop, which decides what it means
            with self._room:
                if not self._closed:
                    self._error = error
        finally:
            self._deferred = None  # a reader closed before it came to raise it (see _raise_failure)
            with self._room:
                self._finished = True
            self._wake()

    def _read_batch(self) -> list[bytes]:
        """One read, plus what is already waiting behind it, up to the limit.

        Each hand-over costs the event loop a wake-up and a pass through the relay, so a fast upstream
        goes over in large pieces; a slow one has nothing waiting and goes over piece by piece at once.
        """
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None  # raised once (see _raise_failure)
            try:
                raise deferred
            finally:
                del deferred
        if self._at_end:
            return []
        batch = [self._read1(READ_SIZE)]
        size = len(batch[0])
        try:
            while size and size < self._limit and self._more_waiting():
                chunk = self._read1(READ_SIZE)
                if not chunk:
                    self._at_end = True
                    break
                batch.append(chunk)
                size += len(chunk)
        except Exception as error:  # what was read before it still goes over first
            self._deferred = error
        return batch if size else []

    def _wake(self) -> None:
        # A closed loop raises RuntimeError: nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._arrived.set)  # type: ignore[union-attr]


# Parts at least this big go over as they are: joining them would copy megabytes to save a wake-up.
WHOLE = 64 * 1024


def _coalesced(parts: list[bytes]) -> list[bytes]:
    """`parts` with each run of small ones joined into one piece, and big ones left alone."""
    if len(parts) == 1:
        return parts
    pieces: list[bytes] = []
    run: list[bytes] = []
    for part in parts:
        if len(part) < WHOLE:
            run.append(part)
            continue
        if run:
            pieces.append(run[0] if len(run) == 1 else b"".join(run))
            run = []
        pieces.append(part)
    if run:
        pieces.append(run[0] if len(run) == 1 else b"".join(run))
    return pieces
