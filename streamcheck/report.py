"""What streamcheck prints: a short table for people (one column per endpoint) or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from streamcheck import verdict as rule
from streamcheck.check import Check
from streamcheck.probe import HEADERS_THAT_MATTER

MISSING = "—"
# How much of a non-200 answer to show: enough for the error code and message.
ERROR_BODY_CHARS = 160


def human(checks: Sequence[Check]) -> str:
    rows = [("", [check.target.label for check in checks]), ("URL", [c.result.url for c in checks])]
    rows += [
        ("status", [str(c.result.status) for c in checks]),
        *((name, [c.result.headers.get(name, MISSING) for c in checks]) for name in HEADERS_THAT_MATTER),
        ("TTFB", [_seconds(c.result.ttfb_s) for c in checks]),
        ("total", [_seconds(c.result.total_s) for c in checks]),
        ("bytes", [f"{c.result.received:,}" for c in checks]),
        ("chunks / events", [f"{len(c.result.samples)} / {c.result.events}" for c in checks]),
        ("before final burst", [_share(c.verdict.figures.get("early_share")) for c in checks]),
        ("first→last byte", [_seconds(c.verdict.figures.get("spread_s")) for c in checks]),
        ("error", [c.verdict.figures.get("error", MISSING) for c in checks]),
        ("verdict", [c.verdict.name for c in checks]),
    ]
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(values[i]) for _, values in rows) for i in range(len(checks))]
    lines = [
        "  ".join([label.ljust(label_width), *(v.ljust(w) for v, w in zip(values, widths, strict=True))]).rstrip()
        for label, values in rows
    ]
    lines.append("")
    for check in checks:
        lines.append(f"{check.target.label}: {check.verdict.name} — {check.verdict.reason}")
        if check.verdict.name == rule.ERROR and check.result.body and "error" not in check.verdict.figures:
            lines.append(f"  answer: {_snippet(check.result.body)}")
    return "\n".join(lines)


def as_json(checks: Sequence[Check]) -> str:
    document = {
        "passed": all(check.verdict.passed for check in checks),
        "rule": {
            "final_burst_window_s": rule.FINAL_BURST_WINDOW_S,
            "min_early_share": rule.MIN_EARLY_SHARE,
            "min_spread_s": rule.MIN_SPREAD_S,
        },
        "checks": [_check_document(check) for check in checks],
    }
    return json.dumps(document, indent=2)


def _check_document(check: Check) -> dict[str, Any]:
    result = check.result
    return {
        "label": check.target.label,
        "url": result.url,
        "status": result.status,
        "headers": result.headers,
        "ttfb_s": _round(result.ttfb_s),
        "headers_s": _round(result.headers_s),
        "total_s": _round(result.total_s),
        "bytes": result.received,
        "chunks": len(result.samples),
        "events": result.events,
        "verdict": check.verdict.name,
        "error": check.verdict.figures.get("error"),
        "passed": check.verdict.passed,
        "reason": check.verdict.reason,
        "figures": check.verdict.figures,
        "samples": [[_round(at), size] for at, size in result.samples],
    }


def _seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:.3f} s"


def _share(value: float | None) -> str:
    return MISSING if value is None else f"{value:.0%}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= ERROR_BODY_CHARS else text[: ERROR_BODY_CHARS - 1] + "…"
