"""Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handler import jsonenc
from handler.jsonenc import valid_unicode

__all__ = ["KEEP_ALIVE", "KEEP_ALIVE_LINE", "MEDIA_TYPE", "error_event", "event", "raw_event", "valid_unicode"]

MEDIA_TYPE = "text/event-stream"
KEEP_ALIVE = b": keep-alive\n\n"
# Inside an event (after a complete line) a comment must not end it with a blank line.
KEEP_ALIVE_LINE = b": keep-alive\n"


def event(data: Any, name: str | None = None) -> bytes:
    """One SSE event whose `data:` line is `data` as compact JSON."""
    return raw_event(jsonenc.dumps(data), name)


def raw_event(data: str, name: str | None = None) -> bytes:
    """One SSE event whose `data:` line is `data` as it is (one line, e.g. OpenAI's `[DONE]`)."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {data}\n\n".encode()


def error_event(body: Mapping[str, str]) -> bytes:
    """The native `error` event (`{"error": CODE, "message": ..., "request_id": ...}`); it also ends a
    relayed agent stream that broke."""
    return event(body, "error")
