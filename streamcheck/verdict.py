"""Did the body stream? A pure judgement over when each piece of the body arrived.

The rule, on the non-empty chunks of a 200 response in arrival order:

* the *final burst* is every chunk that arrived within `FINAL_BURST_WINDOW_S` of the last byte;
* the *early share* is the fraction of the bytes that arrived before the final burst;
* the *spread* is the time from the first byte to the last.

STREAMED needs both an early share of at least `MIN_EARLY_SHARE` and a spread of at least `MIN_SPREAD_S`:
the reader saw a real part of the answer well before the end. A buffering hop (a gateway or a handler
that collects the body) delivers everything in one burst at the end, so its early share is ~0 even
when a keep-alive comment or the first few bytes trickled out earlier. An answer that completes faster
than `MIN_SPREAD_S` cannot prove anything either way and is judged BUFFERED, with that reason.

A 200 stream that carries an `event: error` is ERROR whatever its timing: the backend failed, and a
deploy gate must not pass it because the failure arrived in a well-streamed body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamcheck.sse import ErrorEvent

# A buffering hop flushes its whole body in a few milliseconds; 100 ms also absorbs network jitter
# and TCP splitting the flushed body into several reads.
FINAL_BURST_WINDOW_S = 0.1
# At least half of the bytes must have reached the reader before the final burst.
MIN_EARLY_SHARE = 0.5
# First to last byte: shorter than this is too quick to tell streaming from buffering.
MIN_SPREAD_S = 0.2

STREAMED = "STREAMED"
BUFFERED = "BUFFERED"
ERROR = "ERROR"
# A 403 where one is expected: the function URL only answers requests carrying API Gateway's secret.
GUARDED = "GUARDED"

PASSING = frozenset({STREAMED, GUARDED})

# (seconds since the request was sent, bytes in that chunk)
Sample = tuple[float, int]


@dataclass(frozen=True)
class Verdict:
    name: str
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.name in PASSING


def judge(
    status: int,
    samples: Sequence[Sample],
    *,
    forbidden_expected: bool = False,
    error_event: ErrorEvent | None = None,
) -> Verdict:
    """STREAMED, BUFFERED, ERROR or GUARDED for one response, with the figures behind it."""
    if status == 403 and forbidden_expected:
        return Verdict(GUARDED, "403 as expected: only API Gateway holds the header this URL requires")
    if status != 200:
        return Verdict(ERROR, f"status {status}, not 200")
    chunks = [(at, size) for at, size in samples if size > 0]
    if not chunks:
        return Verdict(ERROR, "200 with an empty body")
    figures = stream_figures(chunks)
    if error_event is not None:
        reason = f"the stream carried an error event: {error_event.code}"
        if error_event.message:
            reason += f" ({error_event.message})"
        return Verdict(ERROR, reason, {**figures, "error": error_event.code})
    if len(chunks) == 1:
        return Verdict(BUFFERED, "the whole body arrived in a single chunk", figures)
    if figures["spread_s"] < MIN_SPREAD_S:
        return Verdict(
            BUFFERED,
            f"all bytes arrived within {figures['spread_s']:.3f} s (< {MIN_SPREAD_S} s): "
            "too quick to show streaming; try a prompt with a longer answer",
            figures,
        )
    share = figures["early_share"]
    summary = (
        f"{share:.0%} of the bytes arrived before the final {FINAL_BURST_WINDOW_S} s burst, "
        f"first to last byte {figures['spread_s']:.2f} s"
    )
    if share < MIN_EARLY_SHARE:
        return Verdict(BUFFERED, f"{summary} (streaming needs >= {MIN_EARLY_SHARE:.0%})", figures)
    return Verdict(STREAMED, summary, figures)


def stream_figures(chunks: Sequence[Sample]) -> dict[str, Any]:
    """The measurements the verdict rests on, for non-empty chunks in arrival order."""
    first, last = chunks[0][0], chunks[-1][0]
    total = sum(size for _, size in chunks)
    early = sum(size for at, size in chunks if at < last - FINAL_BURST_WINDOW_S)
    return {
        "chunks": len(chunks),
        "bytes": total,
        "spread_s": round(last - first, 4),
        "early_share": round(early / total, 4),
        "final_burst_bytes": total - early,
    }
