"""A backend with no AWS at all: a short story, token by token, so streaming is visible locally."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

from handler import events
from handler.contract import Conversation

STORY = (
    "Once upon a time, a small packet left a Lambda function in a hurry. "
    "It did not wait for its siblings; API Gateway waved it through, and the reader "
    "saw each word the moment it was written. The end."
)


class DemoBackend:
    name = "demo"
    model = "demo"

    def __init__(self, token_delay: float) -> None:
        self._token_delay = token_delay

    async def ready(self) -> str | None:
        return None

    async def converse(self, conversation: Conversation) -> events.Answer:
        return events.Answer(self._tell(conversation))

    async def _tell(self, conversation: Conversation) -> AsyncIterator[events.Event]:
        started = time.perf_counter()
        tokens = re.findall(r"\S+\s*", STORY)
        # A request's max_tokens cuts the story short, as a model's would.
        told = tokens[: conversation.max_tokens or len(tokens)]
        for token in told:
            yield events.TextDelta(token)
            await asyncio.sleep(self._token_delay)
        # One "token" per word, so usage is something a client can check.
        heard = sum(len(text.split()) for turn in conversation.turns for text in turn.texts)
        yield events.Done(
            "end_turn" if len(told) == len(tokens) else "max_tokens",
            events.Usage(heard, len(told), heard + len(told)),
            round((time.perf_counter() - started) * 1000),
        )
