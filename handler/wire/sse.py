"""The native stream: one SSE event per typed event, documented in the README's event table.

Deltas are unnamed events (a plain `onmessage` sees them all), told apart by `type`; the events that end
the stream are named too: `done`, `guardrail` and `error`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from handler import events, sse
from handler.upstream import Upstream


def render(event: events.Event) -> bytes:
    match event:
        case events.TextDelta(text):
            return sse.event({"type": "text", "text": text})
        case events.ReasoningDelta(text):
            return sse.event({"type": "reasoning", "text": text})
        case events.ToolUseStart(index, tool_use_id, name):
            return sse.event({"type": "tool_use_start", "index": index, "id": tool_use_id, "name": name})
        case events.ToolUseDelta(index, fragment):
            return sse.event({"type": "tool_use_delta", "index": index, "input": fragment})
        case events.ToolUseStop(index):
            return sse.event({"type": "tool_use_stop", "index": index})
        case events.GuardrailIntervened():
            return sse.event({"type": "guardrail", **_summary(event)}, "guardrail")
        case events.Done():
            return sse.event({"type": "done", **_summary(event)}, "done")
        case events.Error(code, message):
            return sse.error_event({"error": code, "message": message})
    raise TypeError(f"not an event: {event!r}")


def _summary(done: events.Done) -> dict[str, Any]:
    summary: dict[str, Any] = {"stop_reason": done.stop_reason}
    if done.usage is not None:
        usage = done.usage
        summary["usage"] = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
    if done.latency_ms is not None:
        summary["latency_ms"] = done.latency_ms
    return summary


async def _rendered(answer: events.Answer) -> AsyncIterator[bytes]:
    async for event in answer.events:
        yield render(event)


def upstream(answer: events.Answer) -> Upstream:
    """The answer as the relay's byte stream; a failure part-way ends it with the `error` event."""
    return Upstream(sse.MEDIA_TYPE, _rendered(answer), answer.close)
