"""Server-sent events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

import json
from typing import Any

MEDIA_TYPE = "text/event-stream"
KEEP_ALIVE = b": keep-alive\n\n"
# Inside an event (after a complete line) a comment must not end it with a blank line.
KEEP_ALIVE_LINE = b": keep-alive\n"


def event(data: Any, name: str | None = None) -> bytes:
    """One SSE event whose `data:` line is `data` as compact JSON."""
    head = f"event: {name}\n" if name else ""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{head}data: {valid_unicode(text)}\n\n".encode()


def valid_unicode(text: str) -> str:
    """`text` with any lone surrogate (which UTF-8 cannot encode: JSON's "\\ud800" decodes to one) as U+FFFD."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
