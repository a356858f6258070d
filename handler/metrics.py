"""The per-request metric record, in CloudWatch's embedded metric format (EMF) on the access log's own line.

CloudWatch Logs turns a log line holding an `_aws` block into metrics; on Lambda, a JSON line on stdout is
enough. One line per request then serves both the operator reading logs and the dashboard and alarms
(infra/monitoring.py reads the names below). Written by hand rather than with Powertools' `Metrics`: on top
of what the app already imports, that costs 17-21 ms of cold start here, this 0.5 ms (README, "Logs").
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

DEFAULT_NAMESPACE = "streamgate"
# CloudWatch namespaces: 1-255 characters, no leading ':' and never AWS's own `AWS/…`.
NAMESPACE = re.compile(r"^(?!AWS/|:)[A-Za-z0-9 .\-_/#:]{1,255}$")

OK = "ok"
CLIENT_GONE = "client_gone"
UPSTREAM_ERROR = "upstream_error"
REFUSED = "refused"
OUTCOMES = (OK, CLIENT_GONE, UPSTREAM_ERROR, REFUSED)
# Both dimensions are low-cardinality by construction: one backend per deployment, four outcomes.
DIMENSIONS = ("backend", "outcome")

TIME_TO_FIRST_BYTE = "TimeToFirstByte"
DURATION = "Duration"
BYTES = "Bytes"
EVENTS = "Events"
INPUT_TOKENS = "InputTokens"
OUTPUT_TOKENS = "OutputTokens"
UNITS = {
    TIME_TO_FIRST_BYTE: "Milliseconds",
    DURATION: "Milliseconds",
    BYTES: "Bytes",
    EVENTS: "Count",
    INPUT_TOKENS: "Count",
    OUTPUT_TOKENS: "Count",
}
# Bedrock's usage block (ConverseStream `metadata.usage`) -> our metric names.
USAGE_FIELDS = {"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS}


def outcome_of(relay_outcome: str | None, status: int | None) -> str:
    """How the request ended: what the relay recorded once it streamed, else what the status says.

    An answer sent whole (no stream) is ok with a 2xx; a request answered without a stream was refused if the
    answer was a 4xx (bad input, origin guard, upstream throttling) and an upstream error if it was a 5xx or
    no answer at all.
    """
    if relay_outcome in (OK, CLIENT_GONE, UPSTREAM_ERROR):
        return relay_outcome
    if status is not None and status < 400:
        return OK
    if status is not None and status < 500:
        return REFUSED
    return UPSTREAM_ERROR


def token_counts(usage: object) -> dict[str, int]:
    """InputTokens/OutputTokens from a Bedrock usage block; nothing for a backend that reports none."""
    if not isinstance(usage, Mapping):
        return {}
    return {
        name: usage[field]
        for field, name in USAGE_FIELDS.items()
        if isinstance(usage.get(field), int) and not isinstance(usage.get(field), bool)
    }


def embed(line: dict[str, Any], namespace: str, now: float | None = None) -> dict[str, Any]:
    """`line` with an `_aws` block declaring its metric members (those holding a number) under the
    backend/outcome dimensions. A metric without a value (no first byte yet) is left out, not sent as 0."""
    metrics = [
        {"Name": name, "Unit": unit}
        for name, unit in UNITS.items()
        if isinstance(line.get(name), int | float) and not isinstance(line.get(name), bool)
    ]
    timestamp = round((time.time() if now is None else now) * 1000)
    directive = {"Namespace": namespace, "Dimensions": [list(DIMENSIONS)], "Metrics": metrics}
    return {**line, "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]}}
