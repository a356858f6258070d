"""CloudWatch's rules for what the stack's alarms and dashboard may refer to, for the monitoring tests.

- AWS metrics: the Lambda developer guide ("Types of metrics for Lambda functions": per-function metrics under
  the FunctionName dimension) and the API Gateway developer guide ("Amazon API Gateway dimensions and metrics":
  REST metrics under ApiName + Stage; the Average of 4XXError/5XXError is the error rate).
- The app's metrics: what handler/access_log.py publishes through handler/metrics.py (tests/app/test_metrics.py
  reads them back through the EMF extractor): one series per metric, backend and outcome; tokens only from a
  backend that reports usage (bedrock).
- Dashboard bodies: the CloudWatch API reference "Dashboard Body Structure and Syntax": a 24-column grid, metric
  widgets with a region and `metrics` rows of [Namespace, MetricName, name, value, ..., {rendering options}].
- Metric math: the CloudWatch user guide "Using metric math": FILL(m, value) fills m's missing points.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Mapping
from typing import Any

from handler import metrics

LAMBDA_METRICS = frozenset({"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"})
API_GATEWAY_METRICS = frozenset({"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"})
STATISTICS = frozenset({"SampleCount", "Average", "Sum", "Minimum", "Maximum"})
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")
WIDGET_TYPES = frozenset({"metric", "alarm", "text", "log"})


def existing_metrics(
    namespace: str, backend: str, function_name: str, api_name: str, stage: str
) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """(namespace, metric, dimensions) of every metric the deployed stack can have."""
    usage_metrics = set(metrics.USAGE_FIELDS.values())
    app_names = [name for name in metrics.UNITS if backend == "bedrock" or name not in usage_metrics]
    app = {
        (namespace, name, frozenset({("backend", backend), ("outcome", outcome)}))
        for name in app_names
        for outcome in metrics.OUTCOMES
    }
    function = {("AWS/Lambda", name, frozenset({("FunctionName", function_name)})) for name in LAMBDA_METRICS}
    api = {
        ("AWS/ApiGateway", name, frozenset({("ApiName", api_name), ("Stage", stage)})) for name in API_GATEWAY_METRICS
    }
    return app | function | api


def is_statistic(stat: str) -> bool:
    return stat in STATISTICS or bool(PERCENTILE.match(stat))


def metric_rows(body: Mapping[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """Every metric a dashboard body graphs, checking the body's structure on the way."""
    rows = []
    for widget in body["widgets"]:
        assert widget["type"] in WIDGET_TYPES, widget
        assert widget["x"] >= 0, widget
        assert 1 <= widget["width"] <= 24 - widget["x"], widget
        assert widget["y"] >= 0, widget
        assert 1 <= widget["height"] <= 1000, widget
        if widget["type"] != "metric":
            continue
        properties = widget["properties"]
        assert properties["region"], "a metric widget names its region"
        for row in properties["metrics"]:
            options = row[-1] if isinstance(row[-1], dict) else {}
            names = row[:-1] if options else row
            namespace, name, *pairs = names
            assert len(pairs) % 2 == 0, f"dimensions come in name/value pairs: {row}"
            stat = options.get("stat", properties.get("stat", "Average"))
            assert is_statistic(stat), stat
            rows.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)), options))
    return rows


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expression: str, points: Mapping[str, float | None]) -> float | None:
    """One period of a metric math expression of ids, numbers, + - * / and FILL(id, number).

    A missing point (None) stays missing through arithmetic unless FILL replaces it, and a division by zero
    gives no point: either way the alarm sees no data for the period.
    """

    def value(node: ast.AST) -> float | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return points[node.id]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "FILL":
            series, fill = node.args
            found = value(series)
            return value(fill) if found is None else found
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = value(node.left), value(node.right)
            if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
                return None
            return _OPERATORS[type(node.op)](left, right)
        raise AssertionError(f"not metric math this double knows: {ast.dump(node)}")

    return value(ast.parse(expression, mode="eval").body)
