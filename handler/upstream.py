"""An open answer from a backend: its media type, the bytes still to come, and how to stop it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass


class UpstreamError(Exception):
    """The upstream failed; `code` is its error code (e.g. botocore's `Error.Code`), `message` what the
    client may be told (redacted before it is), `detail` what only the access log gets."""

    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail


async def nothing_to_close() -> None:
    return None


def nothing_to_stop() -> None:
    return None


@dataclass
class Upstream:
    """`close` always runs when the answer is over; `abandon` first when the client left, to stop the
    work behind the answer too (not only the reading of it)."""

    media_type: str
    chunks: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]] = nothing_to_close
    abandon: Callable[[], None] = nothing_to_stop
