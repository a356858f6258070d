"""BodyReader: a blocking stream read on a thread of its own, handed over as it arrives, with bounded memory."""

from __future__ import annotations

import asyncio
import gc
import queue
import threading
import time
import weakref

import pytest

from handler.body_reader import WHOLE, BodyReader


class Pipe:
    """A blocking read1 fed by the test, like a socket the upstream writes to."""

    def __init__(self) -> None:
        self._pieces: queue.Queue[bytes | Exception] = queue.Queue()
        self.reads = 0

    def unread(self) -> int:
        return self._pieces.qsize()

    def feed(self, piece: bytes | Exception) -> None:
        self._pieces.put(piece)

    def read1(self, size: int) -> bytes:
        piece = self._pieces.get()
        self.reads += 1
        if isinstance(piece, Exception):
            raise piece
        return piece


def reading(read1, **options) -> BodyReader:
    """A BodyReader being read on a thread of its own, as the thread that made a call reads its answer."""
    reader = BodyReader(read1, **options)
    loop = asyncio.get_running_loop()
    threading.Thread(target=reader.read_here, args=(loop,), name="body-reader", daemon=True).start()
    return reader


async def collect(reader: BodyReader) -> list[bytes]:
    return [chunk async for chunk in reader.chunks()]


def test_each_piece_is_handed_over_as_soon_as_it_is_read():
    pipe = Pipe()

    async def scenario() -> None:
        chunks = reading(pipe.read1).chunks()
        for expected in (b"one", b"two", b"three"):
            pipe.feed(expected)
            # Lock-step: nothing more is fed until this piece is out, so a reader that waits for more (or
            # for a batch to fill) never hands it over; how fast it does is `make bench`'s forwarding lag.
            assert await asyncio.wait_for(anext(chunks), 5) == expected
            await asyncio.sleep(0.02)
        pipe.feed(b"")
        with pytest.raises(StopAsyncIteration):
            await anext(chunks)

    asyncio.run(scenario())


def test_what_arrived_while_the_loop_was_busy_comes_as_one_piece_in_order():
    pipe = Pipe()
    for piece in (b"a", b"b", b"c", b""):
        pipe.feed(piece)

    async def scenario() -> list[bytes]:
        reader = reading(pipe.read1)
        chunks = reader.chunks()
        first = await anext(chunks)
        time.sleep(0.05)  # noqa: ASYNC251 -- the loop is busy on purpose; the reader thread keeps reading
        return [first] + [chunk async for chunk in chunks]

    pieces = asyncio.run(scenario())
    assert b"".join(pieces) == b"abc"
    assert len(pieces) <= 2


def test_reading_pauses_when_the_limit_is_waiting_unread():
    pipe = Pipe()
    for _ in range(50):
        pipe.feed(b"x" * 100)

    async def scenario() -> tuple[int, int]:
        chunks = reading(pipe.read1, limit=300).chunks()
        taken = len(await anext(chunks)) // 100
        await asyncio.sleep(0.1)  # nobody takes more: the reader must stop at the limit
        return taken, pipe.reads

    taken, reads = asyncio.run(scenario())
    # What was taken, plus at most the limit waiting, plus the one piece in hand when it filled.
    assert reads <= taken + 3 + 1, f"read {reads} pieces while nobody consumed them"
    assert reads < 50


def test_a_failed_read_is_raised_after_what_came_before():
    pipe = Pipe()
    pipe.feed(b"before")
    failure = ConnectionResetError("gone")

    received = []

    async def scenario() -> None:
        async for chunk in reading(pipe.read1).chunks():
            received.append(chunk)
            pipe.feed(failure)

    with pytest.raises(ConnectionResetError):
        asyncio.run(scenario())
    assert received == [b"before"]


def test_close_ends_a_reader_waiting_for_room_without_reading_more():
    pipe = Pipe()
    for _ in range(10):
        pipe.feed(b"x" * 100)
    before = set(threading.enumerate())

    async def scenario() -> None:
        reader = reading(pipe.read1, limit=100)
        chunks = reader.chunks()
        await anext(chunks)
        await asyncio.sleep(0.05)
        reader.close()

    asyncio.run(scenario())
    for thread in set(threading.enumerate()) - before:
        thread.join(2)
    assert not [t for t in set(threading.enumerate()) - before if t.name == "body-reader"], "the reader lives on"
    assert pipe.reads <= 3
    assert pipe.unread() >= 7, "pieces were read after close"


def test_pieces_already_waiting_behind_a_read_go_over_together():
    pipe = Pipe()
    for piece in (b"a" * 10, b"b" * 10, b"c" * 10, b""):
        pipe.feed(piece)

    async def scenario() -> list[bytes]:
        return await collect(reading(pipe.read1, more_waiting=lambda: pipe.unread() > 0))

    assert asyncio.run(scenario()) == [b"a" * 10 + b"b" * 10 + b"c" * 10]


def test_a_read_failing_inside_a_batch_still_hands_over_what_came_before_it():
    pipe = Pipe()
    for piece in (b"a", b"b", ConnectionResetError("gone")):
        pipe.feed(piece)
    received = []

    async def scenario() -> None:
        async for chunk in reading(pipe.read1, more_waiting=lambda: pipe.unread() > 0).chunks():
            received.append(chunk)

    with pytest.raises(ConnectionResetError):
        asyncio.run(scenario())
    assert b"".join(received) == b"ab"


def freed_by_reference_counting(scenario) -> bool:
    """Whether the reader `scenario()` makes (and returns a weak reference to) is gone once its thread has
    ended, with the cyclic garbage collector off: a failure kept beside the frames its traceback holds
    would be a reference cycle, and every failed answer would wait for the collector's pauses."""
    before = set(threading.enumerate())
    gc.disable()
    try:
        reader = asyncio.run(scenario())
        for thread in set(threading.enumerate()) - before:
            thread.join(2)
        return reader() is None
    finally:
        gc.enable()


def scripted_read1(*pieces: bytes, wait_before: bytes = b"", until: threading.Event | None = None):
    """A read1 returning `pieces` in turn and then failing; it waits for `until` before `wait_before`.
    The failure is raised afresh, as a socket's is, not kept in a variable its own frame would hold."""
    remaining = iter(pieces)

    def read1(size: int) -> bytes:
        piece = next(remaining, None)
        if piece is None:
            raise ConnectionResetError("gone")
        if until is not None and piece == wait_before:
            until.wait(5)
        return piece

    return read1


def test_a_failure_raised_to_the_loop_leaves_the_reader_to_be_freed():
    async def scenario() -> weakref.ref:
        reader = reading(scripted_read1(b"a", b"b"), more_waiting=lambda: True)
        with pytest.raises(ConnectionResetError):
            await collect(reader)
        return weakref.ref(reader)

    assert freed_by_reference_counting(scenario)


def test_a_reader_closed_with_a_failure_behind_its_last_read_is_freed():
    """The failure came inside a batch read after the close: it is never raised, and must not be kept."""
    closed = threading.Event()

    async def scenario() -> weakref.ref:
        # "a" goes over alone; "b" is read once the reader is closed, and the read behind it fails.
        reader = reading(scripted_read1(b"a", b"b", wait_before=b"b", until=closed), more_waiting=closed.is_set)
        chunks = reader.chunks()
        assert await anext(chunks) == b"a"
        reader.close()
        closed.set()
        await chunks.aclose()
        return weakref.ref(reader)

    assert freed_by_reference_counting(scenario)


def test_big_pieces_go_over_as_read_and_only_small_neighbours_are_joined():
    """Joining megabytes would copy them to save one wake-up; small pieces are still joined."""
    big, other = b"B" * WHOLE, b"C" * (WHOLE + 1)
    pipe = Pipe()
    for piece in (b"a", b"b", big, b"c", other, b""):
        pipe.feed(piece)

    async def scenario() -> list[bytes]:
        return await collect(reading(pipe.read1, more_waiting=lambda: pipe.unread() > 0, limit=1 << 30))

    pieces = asyncio.run(scenario())
    assert pieces == [b"ab", big, b"c", other]
    assert pieces[1] is big
    assert pieces[3] is other


def test_the_stream_is_read_by_the_thread_that_calls_read_here():
    """The thread that made the call reads its answer: no new thread has to wait for the GIL first."""
    pipe = Pipe()
    readers: set[int] = set()
    read1 = pipe.read1

    def tracked(size: int) -> bytes:
        readers.add(threading.get_ident())
        return read1(size)

    pipe.read1 = tracked  # type: ignore[method-assign]
    for piece in (b"one", b"two", b""):
        pipe.feed(piece)

    async def scenario() -> tuple[list[bytes], int]:
        reader = BodyReader(pipe.read1)
        caller = threading.Thread(target=reader.read_here, args=(asyncio.get_running_loop(),))
        caller.start()
        chunks = await asyncio.wait_for(collect(reader), 5)
        caller.join(5)
        return chunks, caller.ident

    chunks, caller = asyncio.run(scenario())
    assert b"".join(chunks) == b"onetwo"
    assert readers == {caller}
