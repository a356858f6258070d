"""A backend with no AWS at all: a short story, token by token, so streaming is visible locally."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import anyio

from handler import sse
from handler.upstream import Upstream

STORY = (
    "Once upon a time, a small packet left a Lambda function in a hurry. "
    "It did not wait for its siblings; API Gateway waved it through, and the reader "
    "saw each word the moment it was written. The end."
)


class DemoBackend:
    name = "demo"

    def __init__(self, token_delay: float) -> None:
        self._token_delay = token_delay

    async def ready(self) -> str | None:
        return None

    async def open(self, prompt: str, session_id: str) -> Upstream:
        return Upstream(media_type=sse.MEDIA_TYPE, chunks=self._tell(prompt))

    async def _tell(self, prompt: str) -> AsyncIterator[bytes]:
        tokens = re.findall(r"\S+\s*", STORY)
        for token in tokens:
            yield sse.event({"type": "text", "text": token})
            await anyio.sleep(self._token_delay)
        yield sse.event({"type": "done", "stop_reason": "end_turn", "prompt_chars": len(prompt)}, "done")
