"""What CloudWatch Logs extracts from a log event in embedded metric format (EMF), and what it refuses.

Follows the EMF specification (CloudWatch user guide, "Specification: Embedded metric format", and its JSON
schema): the message is one JSON object with nothing around it; `_aws` holds an integer millisecond
`Timestamp` and `CloudWatchMetrics`, an array of directives; each directive has a `Namespace` (1-255
characters), `Dimensions` (at least one DimensionSet, each at most 30 keys naming root members with string
values; API_Dimension: 1-1024 ASCII characters, not blank) and at most 100 `Metrics`, each naming a root
member that is a number or an array of at most 100 numbers, with an optional `Unit` from CloudWatch's
StandardUnit list (absent means `None`). PutMetricData's rule applies to the namespace too: nothing under
`AWS/`. A line without `_aws` is an ordinary log line. A document breaking a rule yields no metric at all
(CloudWatch counts it in AWS/Logs EMFValidationErrors); here that is an `EmfError`, so a test cannot pass on
a record CloudWatch would drop.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

UNITS = frozenset(
    [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ]
)
MAX_DIMENSIONS = 30
MAX_METRICS = 100
MAX_VALUES = 100


class EmfError(ValueError):
    """CloudWatch would reject this document and publish none of its metrics."""


@dataclass(frozen=True)
class Datum:
    namespace: str
    name: str
    dimensions: dict[str, str]
    values: tuple[float, ...]
    unit: str
    timestamp_ms: int


def extract(message: str) -> list[Datum]:
    """The metric data CloudWatch would publish for one log event's message ([] for a plain log line)."""
    try:
        root = json.loads(message)
    except ValueError:
        return []
    if not isinstance(root, dict) or "_aws" not in root:
        return []
    metadata = _object(root["_aws"], "_aws")
    timestamp = metadata.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise EmfError(f"_aws.Timestamp must be integer milliseconds, got {timestamp!r}")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("_aws.CloudWatchMetrics must be an array")
    return [datum for directive in directives for datum in _directive(root, _object(directive, "directive"), timestamp)]


def _directive(root: dict[str, Any], directive: dict[str, Any], timestamp: int) -> list[Datum]:
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255 or namespace.startswith("AWS/"):
        raise EmfError(f"bad Namespace {namespace!r}")
    dimension_sets = directive.get("Dimensions")
    if not isinstance(dimension_sets, list) or not dimension_sets:
        raise EmfError("Dimensions must be a non-empty array of DimensionSets")
    resolved = [_dimension_set(root, keys) for keys in dimension_sets]
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        raise EmfError(f"Metrics must be an array of at most {MAX_METRICS} definitions")
    data = []
    for definition in metrics:
        name, unit, values = _metric(root, _object(definition, "MetricDefinition"))
        data += [Datum(namespace, name, dimensions, values, unit, timestamp) for dimensions in resolved]
    return data


def _dimension_set(root: dict[str, Any], keys: object) -> dict[str, str]:
    if not isinstance(keys, list) or len(keys) > MAX_DIMENSIONS:
        raise EmfError(f"a DimensionSet is an array of at most {MAX_DIMENSIONS} keys, got {keys!r}")
    dimensions = {}
    for key in keys:
        value = root.get(key) if isinstance(key, str) else None
        if not isinstance(value, str):
            raise EmfError(f"dimension {key!r} must be a root member with a string value, got {value!r}")
        if not value.strip() or not value.isascii() or len(value) > 1024:
            raise EmfError(f"dimension {key!r}: values are 1-1024 ASCII characters, not blank, got {value!r}")
        dimensions[key] = value
    return dimensions


def _metric(root: dict[str, Any], definition: dict[str, Any]) -> tuple[str, str, tuple[float, ...]]:
    name = definition.get("Name")
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise EmfError(f"bad metric Name {name!r}")
    unit = definition.get("Unit", "None")
    if unit not in UNITS:
        raise EmfError(f"metric {name}: {unit!r} is not a CloudWatch unit")
    value = root.get(name)
    values = value if isinstance(value, list) else [value]
    if not values or len(values) > MAX_VALUES or not all(_is_number(v) for v in values):
        raise EmfError(f"metric {name}: target must be a number or up to {MAX_VALUES} numbers, got {value!r}")
    return name, unit, tuple(float(v) for v in values)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EmfError(f"{what} must be an object")
    return value
