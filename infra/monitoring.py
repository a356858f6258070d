"""Monitoring: the alarms that page an operator, the topic they page through, and the dashboard.

Three sources: the app's own per-request metrics (embedded metric format, handler/metrics.py), the function's
AWS/Lambda metrics and the API stage's AWS/ApiGateway metrics. Thresholds come from stack config.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from handler import metrics
from infra.account import Account
from infra.api import StreamingApi
from infra.config import Settings
from infra.function import StreamingFunction

PERIOD_SECONDS = 60
# "M out of N": EMF data arrive with the function's log flushes, so one late minute must not page anyone
# (CloudWatch user guide, "Setting alarms on metrics created with the embedded metric format").
EVALUATION_PERIODS = 5
DATAPOINTS_TO_ALARM = 3
PERCENTILES = ("p50", "p90", "p99")
# Console hosts per partition (the dashboard URL output).
CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    # Plain strings once resolved (the dashboard); the alarms take the resources' outputs as they are.
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str

    def widget_row(self, label: str) -> list[Any]:
        """The metric as a dashboard `metrics` entry: namespace, name, dimension pairs, rendering options."""
        pairs = [part for item in self.dimensions.items() for part in item]
        return [self.namespace, self.name, *pairs, {"stat": self.stat, "label": label}]

    def query(self, query_id: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
        return aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=query_id,
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace=self.namespace,
                metric_name=self.name,
                dimensions=dict(self.dimensions),
                period=PERIOD_SECONDS,
                stat=self.stat,
            ),
        )


@dataclass(frozen=True)
class Sources:
    """The names the metrics are keyed by: outputs of the function and the API, or their resolved values."""

    namespace: str
    backend: str
    function_name: pulumi.Input[str]
    api_name: pulumi.Input[str]
    stage: pulumi.Input[str]
    region: pulumi.Input[str]

    def app(self, name: str, stat: str, outcome: str = metrics.OK) -> Metric:
        return Metric(self.namespace, name, {"backend": self.backend, "outcome": outcome}, stat)

    def function(self, name: str, stat: str) -> Metric:
        return Metric("AWS/Lambda", name, {"FunctionName": self.function_name}, stat)

    def api(self, name: str, stat: str) -> Metric:
        return Metric("AWS/ApiGateway", name, {"ApiName": self.api_name, "Stage": self.stage}, stat)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: on `metric` compared with `threshold`, or on `expression` over `inputs` (metric math)."""

    name: str
    description: str
    threshold: float
    comparison: str = "GreaterThanThreshold"
    metric: Metric | None = None
    expression: str | None = None
    inputs: Mapping[str, Metric] = field(default_factory=dict)


def alarm_specs(settings: Settings, sources: Sources) -> list[AlarmSpec]:
    """Every alarm the stack creates, with its threshold from stack config."""
    watch = settings.monitoring
    duration_limit_ms = settings.timeout * 1000 * watch.duration_percent_of_timeout / 100
    per_outcome = {
        f"m_{outcome}": sources.app(metrics.DURATION, "SampleCount", outcome) for outcome in metrics.OUTCOMES
    }
    total = " + ".join(f"FILL({query_id}, 0)" for query_id in per_outcome)
    return [
        AlarmSpec(
            "api-5xx-rate",
            f"More than {watch.api_5xx_percent}% of the API's requests answered 5XX.",
            # The Average of 5XXError is the share of requests that got a 5XX (API Gateway's metric docs).
            threshold=watch.api_5xx_percent / 100,
            metric=sources.api("5XXError", "Average"),
        ),
        *(
            AlarmSpec(
                f"function-{metric.lower()}",
                f"The function counted at least {count} {metric.lower()} a minute.",
                threshold=count,
                comparison="GreaterThanOrEqualToThreshold",
                metric=sources.function(metric, "Sum"),
            )
            for metric, count in (("Errors", watch.function_errors), ("Throttles", watch.function_throttles))
        ),
        AlarmSpec(
            "function-duration-p99",
            f"p99 duration passed {watch.duration_percent_of_timeout}% of the {settings.timeout} s timeout: "
            "streams are about to be cut.",
            threshold=duration_limit_ms,
            metric=sources.function("Duration", "p99"),
        ),
        AlarmSpec(
            "ttfb-p90",
            f"p90 time to first byte of answered requests passed {watch.ttfb_p90_ms} ms.",
            threshold=watch.ttfb_p90_ms,
            metric=sources.app(metrics.TIME_TO_FIRST_BYTE, "p90"),
        ),
        AlarmSpec(
            "upstream-error-share",
            f"More than {watch.upstream_error_percent}% of answer requests ended in upstream_error.",
            threshold=watch.upstream_error_percent,
            expression=f"100 * FILL(m_{metrics.UPSTREAM_ERROR}, 0) / ({total})",
            inputs=per_outcome,
        ),
    ]


def dashboard_body(settings: Settings, sources: Sources, alarm_arns: list[str]) -> dict[str, Any]:
    """The dashboard: requests by outcome, first byte, duration, volume, tokens, capacity and the API."""
    app, function, api = sources.app, sources.function, sources.api
    panels: list[tuple[str, list[list[Any]]]] = [
        ("Requests by outcome", [app(metrics.DURATION, "SampleCount", o).widget_row(o) for o in metrics.OUTCOMES]),
        ("Time to first byte, ok (ms)", [app(metrics.TIME_TO_FIRST_BYTE, p).widget_row(p) for p in PERCENTILES]),
        ("Stream duration, ok (ms)", [app(metrics.DURATION, p).widget_row(p) for p in PERCENTILES]),
        (
            "Bytes and events sent, ok",
            [app(metrics.BYTES, "Sum").widget_row("bytes"), app(metrics.EVENTS, "Sum").widget_row("events")],
        ),
    ]
    if settings.backend == "bedrock":  # the only backend that reports token usage
        tokens = [app(name, "Sum").widget_row(name) for name in (metrics.INPUT_TOKENS, metrics.OUTPUT_TOKENS)]
        panels.append(("Tokens, ok", tokens))
    panels += [
        ("Concurrency", [function("ConcurrentExecutions", "Maximum").widget_row("concurrent executions")]),
        (
            "Function errors and throttles",
            [function("Errors", "Sum").widget_row("errors"), function("Throttles", "Sum").widget_row("throttles")],
        ),
        ("API 4XX and 5XX", [api("4XXError", "Sum").widget_row("4XX"), api("5XXError", "Sum").widget_row("5XX")]),
        (
            "API integration latency (ms)",
            [api("IntegrationLatency", p).widget_row(f"integration {p}") for p in ("p50", "p90")]
            + [api("Latency", "p90").widget_row("latency p90")],
        ),
    ]
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 3,
            "properties": {"title": "Alarms", "alarms": alarm_arns},
        }
    ]
    for index, (title, rows) in enumerate(panels):
        widgets.append(
            {
                "type": "metric",
                "x": (index % 3) * 8,
                "y": 3 + (index // 3) * 6,
                "width": 8,
                "height": 6,
                "properties": {
                    "title": title,
                    "view": "timeSeries",
                    "region": sources.region,
                    "period": PERIOD_SECONDS,
                    "metrics": rows,
                },
            }
        )
    return {"widgets": widgets}


def dashboard_name(stack: str) -> str:
    # Dashboard names allow letters, digits, '-' and '_'; Pulumi stack names may also hold '.'.
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{pulumi.get_project()}-{stack}")


def dashboard_url(partition: str, region: str, name: str) -> str:
    host = CONSOLE_HOSTS.get(partition, CONSOLE_HOSTS["aws"])
    return f"https://{region}.{host}/cloudwatch/home?region={region}#dashboards/dashboard/{name}"


class Monitoring(pulumi.ComponentResource):
    """Alarms (with the SNS topic they notify, if any) and the dashboard, for one stack."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    topic_arn: pulumi.Output[str] | None
    dashboard_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        settings: Settings,
        function: StreamingFunction,
        api: StreamingApi,
        account: pulumi.Output[Account],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:index:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.topic_arn = self._topic(name, settings, child)
        actions = [self.topic_arn] if self.topic_arn is not None else []
        namespace, backend = settings.monitoring.namespace, settings.backend
        region = account.apply(lambda a: a.region)
        live = Sources(namespace, backend, function.function.name, api.api_name, api.stage.stage_name, region)
        self.alarms = [self._alarm(name, settings, spec, actions, child) for spec in alarm_specs(settings, live)]
        resolved = pulumi.Output.all(function.function.name, api.api_name, api.stage.stage_name, region).apply(
            lambda values: Sources(namespace, backend, *values)
        )
        body = pulumi.Output.all(resolved, *[alarm.arn for alarm in self.alarms]).apply(
            lambda values: json.dumps(dashboard_body(settings, values[0], list(values[1:])))
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=dashboard_name(settings.stack), dashboard_body=body, opts=child
        )
        self.dashboard_url = pulumi.Output.all(account, dashboard.dashboard_name).apply(
            lambda values: dashboard_url(values[0].partition, values[0].region, values[1])
        )
        self.register_outputs({"dashboard_url": self.dashboard_url, "topic_arn": self.topic_arn})

    def _topic(self, name: str, settings: Settings, child: pulumi.ResourceOptions) -> pulumi.Output[str] | None:
        watch = settings.monitoring
        if watch.alarm_topic_arn:
            return pulumi.Output.from_input(watch.alarm_topic_arn)
        if not watch.alarm_email:
            return None
        # Named for the stack, like the alarms, so the deploy policy can name what it may touch.
        topic = aws.sns.Topic(f"{name}-alarms", name=f"{pulumi.get_project()}-{settings.stack}-alarms", opts=child)
        aws.sns.TopicSubscription(
            f"{name}-alarms-email", topic=topic.arn, protocol="email", endpoint=watch.alarm_email, opts=child
        )
        return topic.arn

    def _alarm(
        self,
        name: str,
        settings: Settings,
        spec: AlarmSpec,
        actions: list[pulumi.Output[str]],
        child: pulumi.ResourceOptions,
    ) -> aws.cloudwatch.MetricAlarm:
        if spec.metric is not None:
            target: dict[str, Any] = {
                "namespace": spec.metric.namespace,
                "metric_name": spec.metric.name,
                "dimensions": dict(spec.metric.dimensions),
                "period": PERIOD_SECONDS,
                **_statistic(spec.metric.stat),
            }
        else:
            result = aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="result", expression=spec.expression, label=spec.name, return_data=True
            )
            target = {"metric_queries": [*(m.query(query_id) for query_id, m in spec.inputs.items()), result]}
        return aws.cloudwatch.MetricAlarm(
            f"{name}-{spec.name}",
            name=f"{pulumi.get_project()}-{settings.stack}-{spec.name}",
            alarm_description=spec.description,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=EVALUATION_PERIODS,
            datapoints_to_alarm=DATAPOINTS_TO_ALARM,
            # No traffic is not an outage: an idle API stays OK.
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            **target,
            opts=child,
        )


def _statistic(stat: str) -> dict[str, str]:
    """CloudWatch takes percentiles as extended statistics, the rest as plain ones."""
    return {"extended_statistic": stat} if stat.startswith("p") else {"statistic": stat}
