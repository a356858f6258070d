"""A fake Bedrock Runtime `ConverseStream` on 127.0.0.1, answering in real AWS event stream frames.

    with FakeBedrockRuntime() as fake:
        fake.respond_with(converse(["Hel", "lo", Pause(2), "!"], delay=0.05))
        events = list(fake.client().converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
        assert fake.last.request.params["modelId"] == MODEL

Scenarios (each a `Reply`): `converse` (text deltas, optionally ending in an exception event or a
broken connection), `answer` (content blocks of text, reasoning and tool use, any stop reason and a
guardrail trace), `frames` (any sequence of `eventstream` messages) and `error` (before the stream).
Every event is its own HTTP chunk.

The event shapes follow the Bedrock Runtime API reference for ConverseStream (ConverseStreamOutput:
messageStart, contentBlockStart with `start.toolUse`, contentBlockDelta with `text`, `reasoningContent`
{text | signature} or `toolUse.input`, contentBlockStop, messageStop with `stopReason`, metadata with
`usage`, `metrics.latencyMs` and, when a guardrail traces, `trace.guardrail`); botocore's service model
parses every frame here, so a shape it does not know fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes import eventstream
from tests.fakes.http import Abort, FakeServer, Reply, Step, chunks, rest_json_error

SERVICE = "bedrock-runtime"
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def converse(
    texts: Sequence[str | Step],
    delay: float = 0.0,
    *,
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    latency_ms: int = 100,
    exception: tuple[str, str] | None = None,
    abort: bool = False,
) -> Reply:
    """A streamed reply with one text block: messageStart, a contentBlockDelta per text, contentBlockStop,
    messageStop and metadata, each `delay` seconds after the previous. Other items are steps played in
    their place: `Pause(seconds)` is a silence, `Until(seen)` waits for the test.

    `exception=("throttlingException", "slow down")` replaces everything after the deltas with that
    exception event (botocore raises `EventStreamError` while iterating); `abort=True` drops the
    connection after the deltas instead.
    """
    items: list[bytes | Step] = [eventstream.event("messageStart", {"role": "assistant"})]
    deltas = [text for text in texts if isinstance(text, str)]
    for text in texts:
        if not isinstance(text, str):
            items.append(text)
        else:
            delta = {"delta": {"text": text}, "contentBlockIndex": 0}
            items.append(eventstream.event("contentBlockDelta", delta))
    if abort:
        items.append(Abort())
    elif exception is not None:
        items.append(eventstream.exception(*exception))
    else:
        usage = {
            "inputTokens": input_tokens,
            "outputTokens": len(deltas),
            "totalTokens": input_tokens + len(deltas),
        }
        items += [
            eventstream.event("contentBlockStop", {"contentBlockIndex": 0}),
            eventstream.event("messageStop", {"stopReason": stop_reason}),
            eventstream.event("metadata", {"usage": usage, "metrics": {"latencyMs": latency_ms}}),
        ]
    return frames(items, delay)


@dataclass(frozen=True)
class Text:
    parts: Sequence[str]


@dataclass(frozen=True)
class Reasoning:
    """Reasoning deltas, then the signature delta Anthropic models end a reasoning block with."""

    parts: Sequence[str]
    signature: str = "c2lnbmF0dXJl"


@dataclass(frozen=True)
class ToolUse:
    """A tool call: contentBlockStart names it, deltas carry its input JSON in fragments."""

    tool_use_id: str
    name: str
    input_parts: Sequence[str]


Block = Text | Reasoning | ToolUse


def answer(
    blocks: Sequence[Block],
    delay: float = 0.0,
    *,
    stop_reason: str = "end_turn",
    usage: tuple[int, int] = (10, 20),
    latency_ms: int = 250,
    guardrail_trace: dict[str, Any] | None = None,
) -> Reply:
    """A whole answer of content blocks (indexed in order), then messageStop and metadata."""
    items: list[bytes | Step] = [eventstream.event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        items += _block(index, block)
        items.append(eventstream.event("contentBlockStop", {"contentBlockIndex": index}))
    tokens_in, tokens_out = usage
    metadata: dict[str, Any] = {
        "usage": {"inputTokens": tokens_in, "outputTokens": tokens_out, "totalTokens": tokens_in + tokens_out},
        "metrics": {"latencyMs": latency_ms},
    }
    if guardrail_trace is not None:
        metadata["trace"] = {"guardrail": guardrail_trace}
    items += [
        eventstream.event("messageStop", {"stopReason": stop_reason}),
        eventstream.event("metadata", metadata),
    ]
    return frames(items, delay)


def _block(index: int, block: Block) -> list[bytes]:
    def delta(body: dict[str, Any]) -> bytes:
        return eventstream.event("contentBlockDelta", {"delta": body, "contentBlockIndex": index})

    if isinstance(block, Text):
        return [delta({"text": part}) for part in block.parts]
    if isinstance(block, Reasoning):
        texts = [delta({"reasoningContent": {"text": part}}) for part in block.parts]
        return [*texts, delta({"reasoningContent": {"signature": block.signature}})]
    start = {"start": {"toolUse": {"toolUseId": block.tool_use_id, "name": block.name}}, "contentBlockIndex": index}
    return [eventstream.event("contentBlockStart", start)] + [
        delta({"toolUse": {"input": part}}) for part in block.input_parts
    ]


def frames(items: Sequence[bytes | Step], delay: float = 0.0) -> Reply:
    """A stream of arbitrary `eventstream.event(...)` / `eventstream.exception(...)` messages and steps."""
    return Reply(headers=(("Content-Type", CONTENT_TYPE),), steps=chunks(items, delay))


def error(code: str, message: str = "fake error", status: int | None = None) -> Reply:
    """An error before the stream, e.g. `error("ValidationException")`; status defaults to the model's."""
    return rest_json_error(SERVICE, code, message, status)


class FakeBedrockRuntime(FakeServer):
    """`POST /model/{modelId}/converse-stream`; see the module docstring and `FakeServer`."""

    routes = (re.compile(r"/model/(?P<modelId>[^/]+)/converse-stream"),)
    service = SERVICE
    endpoint_env = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
