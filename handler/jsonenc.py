"""The one JSON encoding every answer uses: SSE data lines, OpenAI chunks, whole JSON bodies.

Compact, and UTF-8 as it is (no \\u escapes), so a token costs the client its own bytes only; a lone
surrogate (JSON's "\\ud800" decodes to one, and UTF-8 cannot encode it) becomes U+FFFD instead of a crash.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(data: Any) -> str:
    return valid_unicode(json.dumps(data, separators=(",", ":"), ensure_ascii=False))


def body(data: Any) -> bytes:
    """`data` as a JSON document's bytes, for a whole (not streamed) answer."""
    return dumps(data).encode()


def valid_unicode(text: str) -> str:
    """`text` with any lone surrogate as U+FFFD."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
