"""Server-sent events as a browser's EventSource reads them, for judging what a stream said.

Line framing and field rules follow the HTML standard's "Interpreting an event stream": lines end in
CRLF, LF or CR; a blank line dispatches the event gathered so far (if it has data); `event:` names it,
`data:` lines join with newlines, a leading space after the colon is dropped, comment lines (starting
with a colon) and unknown fields are ignored, and an event the stream ends in the middle of is dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    type: str
    data: str


@dataclass(frozen=True)
class ErrorEvent:
    """An `event: error` whose data is the app's `{"error": code, "message": ...}` (or something else)."""

    code: str
    message: str


def events(body: bytes) -> Iterator[Event]:
    kind, data = "", []
    # What follows the last line end is an unfinished line: it never completes an event. (CR and LF
    # never occur inside a multi-byte UTF-8 sequence, so splitting before decoding is safe.)
    *lines, _unfinished = _LINE_END.split(body)
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if not line:
            if data:
                yield Event(kind or "message", "\n".join(data))
            kind, data = "", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)


def first_error(body: bytes) -> ErrorEvent | None:
    """The first `error` event in `body`, with its code and message."""
    for event in events(body):
        if event.type == "error":
            return _as_error(event.data)
    return None


def _as_error(data: str) -> ErrorEvent:
    try:
        document = json.loads(data)
    except ValueError:
        return ErrorEvent("unknown", data)
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return ErrorEvent(document["error"], str(document.get("message", "")))
    return ErrorEvent("unknown", data)
