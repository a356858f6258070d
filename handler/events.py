"""What a model backend says while it answers, independent of any wire format.

Backends (bedrock, demo) yield these; renderers (`handler.wire.sse`, `handler.wire.openai`) turn them into
bytes. An answer is any number of deltas, then exactly one terminal event: `Done`, or `GuardrailIntervened`
when a guardrail stopped it. A failure part-way is not yielded but raised, as `UpstreamError`, so the relay
records it and the renderer's `Error` event ends the stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from handler.upstream import nothing_to_close


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """Part of the model's reasoning (Bedrock `reasoningContent`), shown apart from the answer."""

    text: str


@dataclass(frozen=True)
class ToolUseStart:
    """The model calls a tool; `index` tells the blocks of one answer apart."""

    index: int
    tool_use_id: str
    name: str


@dataclass(frozen=True)
class ToolUseDelta:
    """More of the tool call's input: a fragment of one JSON object, complete once its block stops."""

    index: int
    input: str


@dataclass(frozen=True)
class ToolUseStop:
    index: int


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class Done:
    """The answer is complete. `stop_reason` is Bedrock's (end_turn, tool_use, max_tokens, ...);
    `latency_ms` is the model's own latency, from its metadata."""

    stop_reason: str
    usage: Usage | None = None
    latency_ms: int | None = None


@dataclass(frozen=True)
class GuardrailIntervened(Done):
    """A guardrail blocked the prompt or the answer; what was streamed before it stays streamed."""

    stop_reason: str = "guardrail_intervened"


@dataclass(frozen=True)
class Error:
    """The answer broke off: the relay renders this from the `UpstreamError` it caught."""

    code: str
    message: str


Delta = TextDelta | ReasoningDelta | ToolUseStart | ToolUseDelta | ToolUseStop
Event = Delta | Done | Error


@dataclass
class Answer:
    """A model's answer as it streams: its events, and how to stop it early."""

    events: AsyncIterator[Event]
    close: Callable[[], Awaitable[None]] = nothing_to_close


def observed(answer: Answer, on_done: Callable[[Done], None]) -> Answer:
    """The same answer, with `on_done` told of its end as the end passes (e.g. usage for the access log)."""

    async def passing() -> AsyncIterator[Event]:
        async for event in answer.events:
            if isinstance(event, Done):
                on_done(event)
            yield event

    return Answer(passing(), answer.close)
