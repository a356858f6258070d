"""An upstream's HTTP/1.1 body read straight from its buffered socket file, unframed at C speed.

http.client's `read1` stops at every chunk boundary and reads a chunk's size line and its data in
separate calls: for a firehose of 64 KiB chunks that is two system calls and some thirty Python calls
per chunk, and the GIL changes hands at each. Here one `read1` is one read of whatever has arrived (up
to `size` bytes, several chunks at once), and the framing is cut out with `find` and memoryview slices.
A slow answer is unchanged: a read returns as soon as anything has arrived.

`reader(raw)` picks the reader for a urllib3 response from botocore: chunked or length-delimited
bodies get one of these; anything else (a content coding, a body delimited by the close) keeps
urllib3's own `read1`.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any, BinaryIO

# A size line longer than this is not HTTP (a chunk extension would have to be absurd).
MAX_FRAMING = 4096


class FramingError(http.client.HTTPException):
    """The upstream's chunked body is malformed."""


class ChunkedBody:
    """A chunked body's data, as it arrives, from the file `file` positioned at the body's start."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._framing = b""  # an incomplete size line (or CRLF) carried over to the next read
        self._left = 0  # data bytes of the current chunk still to come
        self._after_data = False  # the CRLF that ends a chunk's data is due
        self._trailers = False  # past the last chunk: trailer lines until a blank one
        self._done = False

    def read1(self, size: int) -> bytes:
        """The data in one read of up to `size` bytes; b"" only at the body's end. A read that brings
        framing alone (a size line on its own) is followed by another."""
        while not self._done:
            data = self._file.read1(size)
            if not data:
                raise http.client.IncompleteRead(b"", self._left or None)
            if self._framing:
                data = self._framing + data
            parts = self._unframe(data)
            if len(parts) == 1 and len(parts[0]) == len(data):
                return data  # all data, no framing: as read, no copy
            if parts:
                return b"".join(parts)
        return b""

    def _unframe(self, data: bytes) -> list[memoryview]:
        parts: list[memoryview] = []
        view, pos, end = memoryview(data), 0, len(data)
        self._framing = b""
        while pos < end and not self._done:
            if self._left:
                take = min(self._left, end - pos)
                parts.append(view[pos : pos + take])
                pos += take
                self._left -= take
                self._after_data = not self._left
                continue
            line_end = data.find(b"\r\n", pos, pos + MAX_FRAMING)
            if line_end == -1:
                if end - pos >= MAX_FRAMING:
                    raise FramingError(f"a chunk size line longer than {MAX_FRAMING} bytes")
                self._framing = data[pos:]
                break
            self._line(data[pos:line_end])
            pos = line_end + 2
        return parts

    def _line(self, line: bytes) -> None:
        if self._after_data:
            if line:
                raise FramingError("chunk data longer than its size")
            self._after_data = False
        elif self._trailers:
            self._done = not line
        else:
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise FramingError(f"not a chunk size: {line[:40]!r}") from None
            if size < 0:
                raise FramingError(f"not a chunk size: {line[:40]!r}")
            self._left = size
            self._trailers = size == 0


class LengthBody:
    """A body of `length` bytes from `file`; cut short, it raises rather than looking complete."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self._file = file
        self._left = length

    def read1(self, size: int) -> bytes:
        if not self._left:
            return b""
        data = self._file.read1(min(size, self._left))
        if not data:
            raise http.client.IncompleteRead(b"", self._left)
        self._left -= len(data)
        return data


def reader(raw: Any, watch: Callable[[BinaryIO], BinaryIO] | None = None) -> Callable[[int], bytes]:
    """The fastest faithful `read1` for the urllib3 response `raw`, before any of its body was read;
    `watch` wraps the socket file it reads (see `hangup.WatchedFile`)."""
    response = getattr(raw, "_fp", None)  # http.client's HTTPResponse
    file = getattr(response, "fp", None)
    coded = raw.headers.get("content-encoding", "identity").lower() != "identity"
    if file is not None and hasattr(file, "read1") and not coded:
        read_from = watch(file) if watch is not None else file
        if response.chunked and response.chunk_left is None:
            return ChunkedBody(read_from).read1
        if not response.chunked and response.length is not None:
            return LengthBody(read_from, response.length).read1
    raw.enforce_content_length = True  # botocore turns urllib3's length check off
    return raw.read1
