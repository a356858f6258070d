"""The app's access-log line (handler/access_log.py) as one short line for a terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from handler import metrics

# What `--errors` asks CloudWatch Logs for (a JSON filter pattern): requests that did not get their answer
# for a reason on our side or the caller's. A client that left (client_gone) is not an error.
ERRORS_PATTERN = f'{{ ($.outcome = "{metrics.UPSTREAM_ERROR}") || ($.outcome = "{metrics.REFUSED}") }}'


def request_record(message: str) -> dict[str, Any] | None:
    """The access-log record in a log event, or None for anything else (START/REPORT lines, tracebacks)."""
    try:
        record = json.loads(message)
    except ValueError:
        return None
    if not isinstance(record, dict) or not {"method", "path", "status", "outcome"} <= record.keys():
        return None
    return record


def summarise(timestamp_ms: int, record: dict[str, Any]) -> str:
    """time, status, outcome, TTFB, duration, method and path, and the error code when there is one."""
    when = datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    parts = [
        when,
        str(record.get("status") or "-").rjust(3),
        f"{record['outcome']:<14}",
        f"ttfb {_ms(record.get(metrics.TIME_TO_FIRST_BYTE))}",
        f"dur {_ms(record.get(metrics.DURATION))}",
        f"{record['method']} {record['path']}",
    ]
    if record.get("error"):
        parts.append(str(record["error"]))
    return "  ".join(parts)


def _ms(value: object) -> str:
    return f"{value:>7.0f} ms" if isinstance(value, int | float) else f"{'-':>7} ms"
