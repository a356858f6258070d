"""Each answer request leaves one EMF record in the log, which CloudWatch turns into the stack's metrics."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from handler import metrics
from handler.backends.bedrock import BedrockBackend
from handler.upstream import UpstreamError
from tests.app.scripted import Fail, Pause, ScriptedBackend, ScriptedModel
from tests.app.scripted import Send as Emit
from tests.fakes import FakeBedrockRuntime
from tests.fakes.bedrock import converse
from tests.fakes.emf import Datum, EmfError, extract

PROMPT = {"prompt": "go"}
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


def published(line: dict) -> dict[str, Datum]:
    """What CloudWatch publishes for one access-log line, by metric name."""
    data = extract(json.dumps(line))
    assert len({datum.name for datum in data}) == len(data), "one datum per metric"
    return {datum.name: datum for datum in data}


def test_a_streamed_answer_publishes_ttfb_duration_bytes_and_events_under_backend_and_outcome(serve, access_log):
    backend = ScriptedBackend([Emit(b"data: a\n\n"), Pause(0.05), Emit(b"data: b\n\n")])
    before = time.time() * 1000
    with serve(backend) as base:
        assert httpx.post(base + "/invoke", json=PROMPT).status_code == 200
    (line,) = access_log.records()
    data = published(line)
    assert set(data) == {"TimeToFirstByte", "Duration", "Bytes", "Events"}
    for datum in data.values():
        assert datum.namespace == "streamgate"
        assert datum.dimensions == {"backend": "scripted", "outcome": "ok"}
        assert before <= datum.timestamp_ms <= time.time() * 1000
    assert {name: datum.unit for name, datum in data.items()} == {
        "TimeToFirstByte": "Milliseconds",
        "Duration": "Milliseconds",
        "Bytes": "Bytes",
        "Events": "Count",
    }
    assert data["Bytes"].values == (18,)
    assert data["Events"].values == (2,)
    (ttfb,), (duration,) = data["TimeToFirstByte"].values, data["Duration"].values
    assert 0 <= ttfb < duration
    assert duration >= 50


def test_the_namespace_is_configurable(serve, access_log):
    with serve(ScriptedBackend([Emit(b"data: a\n\n")]), metrics_namespace="acme/streamgate-prod") as base:
        httpx.post(base + "/invoke", json=PROMPT)
    assert {datum.namespace for datum in published(access_log.records()[0]).values()} == {"acme/streamgate-prod"}


@pytest.mark.parametrize(
    ("backend", "body", "outcome"),
    [
        (ScriptedBackend([Emit(b"data: a\n\n"), Fail("ModelStreamErrorException")]), PROMPT, "upstream_error"),
        (ScriptedBackend([], refuse=UpstreamError("InternalServerException", "down")), PROMPT, "upstream_error"),
        (ScriptedBackend([], refuse=KeyError("a bug before the stream")), PROMPT, "upstream_error"),
        (ScriptedBackend([], refuse=UpstreamError("ThrottlingException", "slow down")), PROMPT, "refused"),
        # An agent takes any JSON object; a model needs a prompt (or messages).
        (ScriptedModel(), {"no": "prompt"}, "refused"),
    ],
    ids=["mid-stream-failure", "upstream-5xx-before-the-stream", "crash-before-the-stream", "throttled", "bad-body"],
)
def test_every_way_a_request_ends_is_one_of_four_outcomes(serve, access_log, backend, body, outcome):
    with serve(backend) as base:
        httpx.post(base + "/invoke", json=body)
    (line,) = access_log.records()
    assert line["outcome"] == outcome
    assert {datum.dimensions["outcome"] for datum in published(line).values()} == {outcome}


def test_a_client_that_leaves_before_the_first_byte_is_client_gone_with_no_ttfb_datum(serve, access_log):
    backend = ScriptedBackend([Emit(b"data: late\n\n")], open_delay=30)
    with serve(backend) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(base + "/invoke", json=PROMPT, timeout=httpx.Timeout(5, read=0.2))
        (line,) = access_log.records()
    data = published(line)
    assert line["TimeToFirstByte"] is None
    assert set(data) == {"Duration", "Bytes", "Events"}, "a missing first byte is not published as 0"
    assert data["Duration"].dimensions == {"backend": "scripted", "outcome": "client_gone"}
    assert data["Bytes"].values == (0,)


def test_a_request_refused_by_the_origin_guard_is_refused(serve, access_log):
    with serve(ScriptedBackend([]), origin_verify_secret="right") as base:
        httpx.post(base + "/invoke", json=PROMPT, headers={"x-origin-verify": "wrong"})
    (line,) = access_log.records()
    assert (line["status"], line["outcome"], line["error"]) == (403, "refused", "Forbidden")
    assert published(line)["Duration"].dimensions["outcome"] == "refused"


def test_health_checks_and_preflights_are_logged_but_not_metered(serve, access_log):
    with serve(ScriptedBackend([])) as base:
        httpx.get(base + "/healthz")
        httpx.options(base + "/invoke")
    lines = access_log.records(at_least=2)
    assert [(line["method"], line["status"]) for line in lines] == [("GET", 200), ("OPTIONS", 204)]
    assert all("_aws" not in line and extract(json.dumps(line)) == [] for line in lines)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/invoke", {"prompt": "Say hello"}),
        ("/v1/chat/completions", {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
    ],
    ids=["native", "openai-stream", "openai-whole"],
)
def test_bedrock_token_usage_becomes_input_and_output_token_counts(serve, access_log, path, body):
    with FakeBedrockRuntime() as fake:
        fake.respond_with(converse(["Hel", "lo"], input_tokens=12))
        with serve(BedrockBackend(MODEL, client=fake.client())) as base:
            assert httpx.post(base + path, json=body).status_code == 200
    (line,) = access_log.records()
    data = published(line)
    # The fake's usage: the input tokens it was told, one output token per delta.
    assert (data["InputTokens"].values, data["OutputTokens"].values) == ((12,), (2,))
    assert {data["InputTokens"].unit, data["OutputTokens"].unit} == {"Count"}
    assert data["InputTokens"].dimensions == {"backend": "bedrock", "outcome": "ok"}


def test_backends_without_usage_publish_no_token_metrics(serve, access_log):
    with serve(ScriptedBackend([Emit(b"data: a\n\n")])) as base:
        httpx.post(base + "/invoke", json=PROMPT)
    assert not {"InputTokens", "OutputTokens"} & set(published(access_log.records()[0]))


@pytest.mark.parametrize(
    ("relay_outcome", "status", "outcome"),
    [
        ("ok", 200, "ok"),
        ("client_gone", 200, "client_gone"),
        ("client_gone", None, "client_gone"),
        ("upstream_error", 200, "upstream_error"),
        (None, 200, "ok"),
        (None, 204, "ok"),
        (None, 400, "refused"),
        (None, 429, "refused"),
        (None, 502, "upstream_error"),
        (None, None, "upstream_error"),
    ],
)
def test_outcome_of(relay_outcome, status, outcome):
    assert metrics.outcome_of(relay_outcome, status) == outcome


@pytest.mark.parametrize("usage", [None, "12", {"inputTokens": "12"}, {"inputTokens": True}, {}])
def test_usage_that_is_not_bedrock_counts_gives_no_token_metrics(usage):
    assert metrics.token_counts(usage) == {}


# -- the extractor rejects what CloudWatch rejects, so the tests above can only pass on valid records --------


def valid() -> dict:
    return metrics.embed({"backend": "demo", "outcome": "ok", "Duration": 1.5}, "streamgate")


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["_aws"].pop("Timestamp"),
        lambda d: d["_aws"].update(Timestamp=1.5),
        lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="AWS/Lambda"),
        lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[]),
        lambda d: d.pop("backend"),
        lambda d: d.update(outcome=3),
        lambda d: d.update(Duration="1.5"),
        lambda d: d.update(Duration=None),
        lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="ms"),
    ],
    ids=[
        "no-timestamp",
        "float-timestamp",
        "aws-namespace",
        "no-dimension-set",
        "missing-dimension",
        "numeric-dimension",
        "string-metric",
        "null-metric",
        "unknown-unit",
    ],
)
def test_the_extractor_rejects_documents_cloudwatch_would_drop(breakage):
    document = valid()
    assert [datum.name for datum in extract(json.dumps(document))] == ["Duration"]
    breakage(document)
    with pytest.raises(EmfError):
        extract(json.dumps(document))


def test_keep_alives_while_the_model_thinks_do_not_count_as_the_first_byte(serve, access_log):
    backend = ScriptedBackend([Pause(0.4), Emit(b"data: first token\n\n")])
    with serve(backend, heartbeat_seconds=0.05) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert body.startswith(b": keep-alive\n\n"), "the keep-alives did go out first"
    (line,) = access_log.records()
    assert published(line)["TimeToFirstByte"].values[0] >= 400
    assert line["Bytes"] == len(body)


def test_a_stream_committed_before_the_upstream_opened_times_the_first_byte_of_the_answer(serve, access_log):
    backend = ScriptedBackend([Emit(b"data: first token\n\n")], open_delay=0.4)
    with serve(backend, open_grace_seconds=0.05, heartbeat_seconds=0.1) as base:
        body = httpx.post(base + "/invoke", json=PROMPT).content
    assert body.startswith(b": opening\n\n")
    (line,) = access_log.records()
    assert line["opened"] == "committed"
    assert published(line)["TimeToFirstByte"].values[0] >= 400
