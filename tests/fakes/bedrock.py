"""A fake Bedrock Runtime `ConverseStream` on 127.0.0.1, answering in real AWS event stream frames.

    with FakeBedrockRuntime() as fake:
        fake.respond_with(converse(["Hel", "lo", Pause(2), "!"], delay=0.05))
        events = list(fake.client().converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
        assert fake.last.request.params["modelId"] == MODEL

Scenarios (each a `Reply`): `converse` (text deltas, optionally ending in an exception event or a
broken connection), `frames` (any sequence of `eventstream` messages) and `error` (before the stream).
Every event is its own HTTP chunk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tests.fakes import eventstream
from tests.fakes.http import Abort, FakeServer, Pause, Reply, Step, chunks, rest_json_error

SERVICE = "bedrock-runtime"
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def converse(
    texts: Sequence[str | Pause],
    delay: float = 0.0,
    *,
    stop_reason: str = "end_turn",
    input_tokens: int = 10,
    latency_ms: int = 100,
    exception: tuple[str, str] | None = None,
    abort: bool = False,
) -> Reply:
    """A streamed reply with one text block: messageStart, a contentBlockDelta per text, contentBlockStop,
    messageStop and metadata, each `delay` seconds after the previous. `Pause(seconds)` items are silences.

    `exception=("throttlingException", "slow down")` replaces everything after the deltas with that
    exception event (botocore raises `EventStreamError` while iterating); `abort=True` drops the
    connection after the deltas instead.
    """
    items: list[bytes | Step] = [eventstream.event("messageStart", {"role": "assistant"})]
    deltas = [text for text in texts if isinstance(text, str)]
    for text in texts:
        if isinstance(text, Pause):
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
