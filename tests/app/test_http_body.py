"""The upstream body reader: chunk framing removed whatever way the reads cut it, and a body that is cut
short or malformed fails instead of looking complete."""

from __future__ import annotations

import http.client
import io
import itertools

import pytest

from handler.backends import http_body
from handler.backends.http_body import ChunkedBody, FramingError, LengthBody


class Reads(io.RawIOBase):
    """A file whose `read1` calls return the scripted pieces in turn (then b"", the end)."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)
        self.calls = 0

    def read1(self, size: int = -1) -> bytes:
        self.calls += 1
        return self.pieces.pop(0) if self.pieces else b""


def chunked(*data: bytes, trailers: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(part), part) for part in data) + b"0\r\n" + trailers + b"\r\n"


def drain(read1) -> list[bytes]:
    out = []
    while piece := read1(1 << 20):
        out.append(piece)
    return out


def test_one_read_holding_many_chunks_returns_their_data_at_once():
    body = ChunkedBody(Reads(chunked(b"data: 1\n\n", b"data: 2\n\n", b"data: 3\n\n")))
    assert body.read1(1 << 20) == b"data: 1\n\ndata: 2\n\ndata: 3\n\n"
    assert body.read1(1 << 20) == b""


@pytest.mark.parametrize("cut", range(1, 40))
def test_reads_cut_anywhere_in_the_framing_give_the_same_data(cut):
    wire = chunked(b"data: first\n\n", b"x" * 17, b"data: last\n\n")
    pieces = [wire[i : i + cut] for i in range(0, len(wire), cut)]
    assert b"".join(drain(ChunkedBody(Reads(*pieces)).read1)) == b"data: first\n\n" + b"x" * 17 + b"data: last\n\n"


def test_a_read_of_framing_alone_is_followed_by_another_rather_than_looking_like_the_end():
    reads = Reads(b"5\r\n", b"hello", b"\r\n0\r\n\r\n")
    body = ChunkedBody(reads)
    assert body.read1(100) == b"hello"
    assert body.read1(100) == b""


def test_chunk_extensions_and_trailers_are_understood_and_dropped():
    wire = b"5;name=value\r\nhello\r\n0\r\nx-checksum: abc\r\nx-other: 1\r\n\r\n"
    assert drain(ChunkedBody(Reads(wire)).read1) == [b"hello"]


def test_bytes_after_the_last_chunk_are_not_data():
    assert drain(ChunkedBody(Reads(chunked(b"hello") + b"HTTP/1.1 200 OK\r\n")).read1) == [b"hello"]


def test_a_read_inside_one_chunk_is_returned_as_read():
    data = b"y" * 1000
    first = b"%x\r\n" % (len(data) * 2)
    body = ChunkedBody(Reads(first + data, data, b"\r\n0\r\n\r\n"))
    assert body.read1(1 << 20) == data
    assert body.read1(1 << 20) == data
    assert body.read1(1 << 20) == b""


@pytest.mark.parametrize(
    "wire",
    [b"5\r\nhel", b"5\r\nhello\r\n", b"5\r\nhello\r\n0\r\n", b"5\r"],
    ids=["inside data", "between chunks", "in the trailers", "inside a size line"],
)
def test_a_body_cut_short_raises_incomplete_read(wire):
    body = ChunkedBody(Reads(wire))
    with pytest.raises(http.client.IncompleteRead):
        drain(body.read1)


@pytest.mark.parametrize(
    "wire",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"-5\r\nhello\r\n0\r\n\r\n", b"3\r\nhello\r\n0\r\n\r\n", b"f" * 5000],
    ids=["not hex", "negative", "data longer than its size", "a size line without end"],
)
def test_malformed_framing_raises_a_framing_error(wire):
    with pytest.raises(FramingError):
        drain(ChunkedBody(Reads(wire)).read1)


def test_a_length_delimited_body_stops_at_its_length_and_raises_when_cut_short():
    assert drain(LengthBody(Reads(b"hello", b" world", b"ignored"), 11).read1) == [b"hello", b" world"]
    with pytest.raises(http.client.IncompleteRead):
        drain(LengthBody(Reads(b"hello"), 11).read1)


def test_a_read_never_asks_a_length_body_for_more_than_is_left():
    asked = []

    class Recording(Reads):
        def read1(self, size: int = -1) -> bytes:
            asked.append(size)
            return super().read1(size)

    drain(LengthBody(Recording(b"abc", b"de"), 5).read1)
    assert asked[:2] == [5, 2]


class Raw:
    """Just enough of a urllib3 response from botocore for `http_body.reader` to choose."""

    def __init__(self, headers: dict[str, str], chunked: bool, length: int | None, file=None) -> None:
        self.headers = headers
        self.enforce_content_length = False
        self._fp = type("Response", (), {"chunked": chunked, "chunk_left": None, "length": length, "fp": file})()

    def read1(self, size: int) -> bytes:
        return b"urllib3"


def test_the_reader_is_chosen_by_the_body_framing():
    file = Reads()
    assert http_body.reader(Raw({}, chunked=True, length=None, file=file)).__self__.__class__ is ChunkedBody
    assert http_body.reader(Raw({}, chunked=False, length=5, file=file)).__self__.__class__ is LengthBody


@pytest.mark.parametrize(
    ("headers", "chunked", "length"),
    [({"content-encoding": "gzip"}, True, None), ({}, False, None)],
    ids=["a content coding", "delimited by the close"],
)
def test_bodies_it_does_not_unframe_keep_urllib3s_read_with_its_length_check(headers, chunked, length):
    raw = Raw(headers, chunked=chunked, length=length, file=Reads())
    assert http_body.reader(raw)(10) == b"urllib3"
    assert raw.enforce_content_length


def test_random_cuts_of_a_long_stream_lose_and_add_nothing():
    events = [b"data: %d\n\n" % n * (n % 7 + 1) for n in range(200)]
    wire = chunked(*events)
    sizes = itertools.cycle([1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377])
    pieces, at = [], 0
    while at < len(wire):
        step = next(sizes)
        pieces.append(wire[at : at + step])
        at += step
    assert b"".join(drain(ChunkedBody(Reads(*pieces)).read1)) == b"".join(events)
