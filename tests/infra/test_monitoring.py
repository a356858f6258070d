"""The stack's alarms, the topic they notify and the dashboard (mocked AWS): each alarm watches a metric that
exists with the statistic and threshold stack config asks for, and each widget graphs a metric that exists."""

from __future__ import annotations

import json

import pytest

from infra.config import ConfigError
from infra.offline import OfflineRun
from tests.infra.cloudwatch import evaluate, existing_metrics, metric_rows
from tests.infra.conftest import RUNTIME_ARN

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
REST_API = "aws:apigateway/restApi:RestApi"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
EXISTING_TOPIC = "arn:aws:sns:us-east-1:123456789012:oncall-pager"


def alarms(run: OfflineRun) -> dict[str, dict]:
    return {alarm.inputs["name"].removeprefix(f"streamgate-{run.stack}-"): alarm.inputs for alarm in run.of_type(ALARM)}


def names(run: OfflineRun) -> dict[str, str]:
    """The dimension values of this stack's metrics, as the mocks answered them."""
    api = run.one(REST_API)
    return {
        "function": run.outputs["functionName"],
        "api": api.state["name"],
        "stage": run.one("aws:apigateway/stage:Stage").inputs["stageName"],
    }


def catalogue(run: OfflineRun, backend: str) -> set:
    found = names(run)
    namespace = run.one("aws:lambda/function:Function").plain["environment"]["variables"]["METRICS_NAMESPACE"]
    return existing_metrics(namespace, backend, found["function"], found["api"], found["stage"])


def test_every_alarm_watches_its_metric_with_its_statistic_and_default_threshold(program):
    run = program("dev")
    found = names(run)
    app = {"backend": "demo", "outcome": "ok"}
    expected = {
        "api-5xx-rate": (
            "AWS/ApiGateway",
            "5XXError",
            {"ApiName": found["api"], "Stage": "v1"},
            ("statistic", "Average"),
            0.05,
            "GreaterThanThreshold",
        ),
        "function-errors": (
            "AWS/Lambda",
            "Errors",
            {"FunctionName": found["function"]},
            ("statistic", "Sum"),
            1,
            "GreaterThanOrEqualToThreshold",
        ),
        "function-throttles": (
            "AWS/Lambda",
            "Throttles",
            {"FunctionName": found["function"]},
            ("statistic", "Sum"),
            1,
            "GreaterThanOrEqualToThreshold",
        ),
        # dev's timeout is 300 s; the alarm fires at 90 % of it.
        "function-duration-p99": (
            "AWS/Lambda",
            "Duration",
            {"FunctionName": found["function"]},
            ("extendedStatistic", "p99"),
            270_000,
            "GreaterThanThreshold",
        ),
        "ttfb-p90": (
            "streamgate/dev",
            "TimeToFirstByte",
            app,
            ("extendedStatistic", "p90"),
            5000,
            "GreaterThanThreshold",
        ),
    }
    found_alarms = alarms(run)
    assert set(found_alarms) == {*expected, "upstream-error-share"}
    existing = catalogue(run, "demo")
    for name, (namespace, metric, dimensions, (kind, stat), threshold, comparison) in expected.items():
        alarm = found_alarms[name]
        assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"]) == (namespace, metric, dimensions), name
        assert alarm[kind] == stat, name
        (other,) = {"statistic", "extendedStatistic"} - {kind}
        assert other not in alarm, name
        assert (alarm["threshold"], alarm["comparisonOperator"]) == (threshold, comparison), name
        assert (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (60, 5, 3), name
        assert alarm["treatMissingData"] == "notBreaching", name
        assert (namespace, metric, frozenset(dimensions.items())) in existing, name


def test_the_upstream_error_share_is_metric_math_over_the_four_outcomes(program):
    run = program("dev")
    alarm = alarms(run)["upstream-error-share"]
    assert (alarm["threshold"], alarm["comparisonOperator"]) == (5, "GreaterThanThreshold")
    queries = {query["id"]: query for query in alarm["metricQueries"]}
    (result,) = [query for query in queries.values() if query.get("returnData")]
    inputs = {query_id: query["metric"] for query_id, query in queries.items() if "metric" in query}
    existing = catalogue(run, "demo")
    outcomes = {}
    for query_id, metric in inputs.items():
        assert (metric["metricName"], metric["stat"], metric["period"]) == ("Duration", "SampleCount", 60)
        assert ("streamgate/dev", "Duration", frozenset(metric["dimensions"].items())) in existing
        outcomes[metric["dimensions"]["outcome"]] = query_id
    assert set(outcomes) == {"ok", "client_gone", "upstream_error", "refused"}

    def share(**counts: float | None) -> float | None:
        return evaluate(result["expression"], {outcomes[name]: counts.get(name) for name in outcomes})

    assert share(ok=90, upstream_error=10) == 10
    assert share(ok=45, client_gone=3, refused=2) == 0
    assert share(upstream_error=4) == 100
    assert share() is None, "a minute without requests is missing data, which the alarm treats as fine"


def test_thresholds_come_from_stack_config(program):
    run = program(
        "dev",
        alarmApi5xxPercent=2,
        alarmFunctionErrors=5,
        alarmFunctionThrottles=10,
        alarmDurationPercentOfTimeout=50,
        alarmTtfbP90Ms=1500,
        alarmUpstreamErrorPercent=20,
        timeout=120,
    )
    thresholds = {name: alarm["threshold"] for name, alarm in alarms(run).items()}
    assert thresholds == {
        "api-5xx-rate": 0.02,
        "function-errors": 5,
        "function-throttles": 10,
        "function-duration-p99": 60_000,
        "ttfb-p90": 1500,
        "upstream-error-share": 20,
    }


def test_alarm_email_creates_a_topic_mailing_it_and_every_alarm_notifies_the_topic(program):
    run = program("dev", alarmEmail="oncall@example.com")
    topic = run.one(TOPIC)
    subscription = run.one(SUBSCRIPTION)
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == ("email", "oncall@example.com")
    topic_arn = run.outputs["alarmTopicArn"]
    assert subscription.inputs["topic"] == topic_arn == topic.state["arn"]
    for name, alarm in alarms(run).items():
        assert alarm["alarmActions"] == alarm["okActions"] == [topic_arn], name


def test_an_existing_topic_is_used_as_it_is(program):
    run = program("dev", alarmTopicArn=EXISTING_TOPIC)
    assert run.of_type(TOPIC) == []
    assert run.of_type(SUBSCRIPTION) == []
    assert run.outputs["alarmTopicArn"] == EXISTING_TOPIC
    for name, alarm in alarms(run).items():
        assert alarm["alarmActions"] == alarm["okActions"] == [EXISTING_TOPIC], name


def test_without_a_topic_the_alarms_exist_without_actions(program):
    run = program("dev")
    assert run.of_type(TOPIC) == []
    assert "alarmTopicArn" not in run.outputs
    assert len(alarms(run)) == 6
    for name, alarm in alarms(run).items():
        assert alarm["alarmActions"] == alarm["okActions"] == [], name


def test_both_an_email_and_a_topic_is_refused_naming_both(program):
    with pytest.raises(ConfigError, match=r"alarmEmail='a@example.com' and alarmTopicArn=.*set one"):
        program("dev", alarmEmail="a@example.com", alarmTopicArn=EXISTING_TOPIC)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("alarmEmail", "not-an-address"),
        ("alarmTopicArn", "arn:aws:sqs:us-east-1:123456789012:q"),
        ("metricsNamespace", "AWS/Lambda"),
    ],
)
def test_a_bad_address_topic_or_namespace_is_refused(program, key, bad):
    with pytest.raises(ConfigError, match=f"streamgate:{key}={bad!r} is not allowed"):
        program("dev", **{key: bad})


@pytest.mark.parametrize(
    ("stack", "overrides", "backend"),
    [
        ("dev", {}, "demo"),
        ("prod", {"agentRuntimeArn": RUNTIME_ARN}, "agentcore"),
        ("dev", {"backend": "bedrock", "modelId": MODEL}, "bedrock"),
    ],
)
def test_every_dashboard_widget_graphs_a_metric_that_exists(program, stack, overrides, backend):
    run = program(stack, **overrides)
    body = json.loads(run.one(DASHBOARD).inputs["dashboardBody"])
    rows = metric_rows(body)
    existing = catalogue(run, backend)
    for namespace, name, dimensions, _ in rows:
        assert (namespace, name, frozenset(dimensions.items())) in existing, (namespace, name, dimensions)
    graphed = {(namespace, name) for namespace, name, _, _ in rows}
    namespace = f"streamgate/{stack}"
    wanted = {
        (namespace, "Duration"),
        (namespace, "TimeToFirstByte"),
        (namespace, "Bytes"),
        (namespace, "Events"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "4XXError"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "IntegrationLatency"),
    }
    assert wanted <= graphed
    tokens = {(namespace, "InputTokens"), (namespace, "OutputTokens")}
    assert (tokens <= graphed) == (backend == "bedrock")
    by_outcome = [
        dims["outcome"] for ns, name, dims, options in rows if name == "Duration" and options["stat"] == "SampleCount"
    ]
    assert sorted(by_outcome) == ["client_gone", "ok", "refused", "upstream_error"]
    ttfb = {options["stat"] for _, name, _, options in rows if name == "TimeToFirstByte"}
    assert ttfb == {"p50", "p90", "p99"}


def test_the_dashboard_shows_every_alarm_and_its_console_url_is_exported(program):
    run = program("prod", agentRuntimeArn=RUNTIME_ARN)
    dashboard = run.one(DASHBOARD)
    body = json.loads(dashboard.inputs["dashboardBody"])
    (panel,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    assert sorted(panel["properties"]["alarms"]) == sorted(alarm.state["arn"] for alarm in run.of_type(ALARM))
    assert dashboard.inputs["dashboardName"] == "streamgate-prod"
    assert run.outputs["dashboardUrl"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/streamgate-prod"
    )


def test_the_metrics_namespace_is_per_stack_unless_configured_and_the_app_is_told(program):
    function = "aws:lambda/function:Function"
    default = program("prod", agentRuntimeArn=RUNTIME_ARN)
    assert default.one(function).plain["environment"]["variables"]["METRICS_NAMESPACE"] == "streamgate/prod"
    custom = program("dev", metricsNamespace="acme/chat")
    assert custom.one(function).plain["environment"]["variables"]["METRICS_NAMESPACE"] == "acme/chat"
    assert alarms(custom)["ttfb-p90"]["namespace"] == "acme/chat"
    rows = metric_rows(json.loads(custom.one(DASHBOARD).inputs["dashboardBody"]))
    assert {namespace for namespace, *_ in rows} == {"acme/chat", "AWS/Lambda", "AWS/ApiGateway"}
