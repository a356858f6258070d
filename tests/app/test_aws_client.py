"""The AWS client the app makes for itself: one attempt per agent run, the region from the app's
settings, and readiness only once it can serve. Through real botocore to the loopback fakes, behind
the API Gateway stand-in (regional timing, scaled down)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from handler.backends import aws, calls
from handler.backends.agentcore import AgentCoreBackend
from handler.backends.bedrock import BedrockBackend
from tests.fakes import FakeAgentCore, FakeBedrockRuntime
from tests.fakes.agentcore import error, sse, sse_event
from tests.fakes.api_gateway import REGIONAL, FakeApiGateway
from tests.fakes.bedrock import converse
from tests.fakes.bedrock import error as model_error
from tests.loopback import ROOT, free_port, serve_process

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TIMING = REGIONAL.scaled(1 / 100)
PROMPT = {"prompt": "book the flight"}


@pytest.fixture
def agent(monkeypatch):
    with FakeAgentCore().for_this_process(monkeypatch) as fake:
        yield fake


@pytest.fixture
def model(monkeypatch):
    with FakeBedrockRuntime().for_this_process(monkeypatch) as fake:
        yield fake


def test_an_agent_that_fails_with_a_5xx_is_run_once(agent, through_gateway):
    agent.respond_with(error("InternalServerException", "the agent crashed"))
    with through_gateway(AgentCoreBackend(ARN, region="us-east-1"), TIMING) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert (response.status_code, response.json()["error"]) == (502, "InternalServerException")
    assert agent.calls == 1, "botocore retried a call that is not idempotent"


def test_an_agent_that_stalls_before_its_headers_is_run_once(agent, through_gateway, access_log):
    """The production client config with its read timeout scaled down: a stall is one timeout, not three."""
    agent.respond_with(dataclasses.replace(sse([sse_event({"n": 1})]), delay=1.0))
    client = aws.make_client("bedrock-agentcore", "us-east-1", read_timeout=0.2)
    with through_gateway(AgentCoreBackend(ARN, client=client), TIMING) as gateway:
        started = time.perf_counter()
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
        took = time.perf_counter() - started
    assert (response.status_code, response.json()["error"]) == (502, "UpstreamUnavailable")
    assert "Read timeout" in access_log.records()[-1]["error_detail"]
    assert agent.calls == 1
    assert took < 0.9, f"one read timeout of 0.2 s took {took:.2f} s"


def test_at_the_thread_limit_a_call_is_refused_with_503_and_never_sent(agent, serve, monkeypatch, access_log):
    """Each call has a thread of its own; a process that can start no more says so, and the event loop
    neither blocks nor runs the call itself."""
    agent.respond_with(sse([sse_event({"n": 1})]))

    def no_thread_left(function, args):
        raise RuntimeError("can't start new thread")

    with serve(AgentCoreBackend(ARN, region="us-east-1")) as base:
        httpx.get(base + "/healthz")  # the client is made before the limit is reached
        monkeypatch.setattr(calls._thread, "start_new_thread", no_thread_left)
        response = httpx.post(base + "/invoke", json=PROMPT)
        monkeypatch.undo()
        assert httpx.post(base + "/invoke", json=PROMPT).status_code == 200, "the next call, with threads again"
    assert (response.status_code, response.json()["error"]) == (503, "Overloaded")
    refused = next(line for line in access_log.records(3) if line["status"] == 503)
    assert "can't start new thread" in refused["error_detail"]
    assert agent.calls == 1


def test_a_model_keeps_standard_retries_for_throttling_before_its_stream(model, through_gateway):
    model.queue(model_error("ThrottlingException", "slow down"))
    model.respond_with(converse(["hi"]))
    with through_gateway(BedrockBackend(MODEL, region="us-east-1"), TIMING) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert response.status_code == 200
    assert b'"text":"hi"' in response.content
    assert model.calls == 2


def test_the_retry_budget_is_one_attempt_for_agents_and_three_for_models():
    agent, model = aws.client_config("bedrock-agentcore"), aws.client_config("bedrock-runtime")
    assert agent.retries == {"mode": "standard", "total_max_attempts": 1}
    assert model.retries == {"mode": "standard", "total_max_attempts": 3}
    assert aws.client_config("bedrock-agentcore", read_timeout=1).read_timeout == 1


def test_every_call_carries_the_user_agent_fixed_at_start(agent, through_gateway):
    """botocore would rebuild its User-Agent for each call; the app's is set once, naming botocore and itself."""
    import botocore

    agent.respond_with(sse([sse_event({"text": "hi"})]))
    with through_gateway(AgentCoreBackend(ARN, region="us-east-1"), TIMING) as gateway:
        for _ in range(2):
            assert httpx.post(gateway.url + "/invoke", json=PROMPT).status_code == 200
    agents = {exchange.request.headers["user-agent"] for exchange in agent.exchanges}
    assert agents == {f"botocore/{botocore.__version__} streamgate"}


def test_aws_region_alone_reaches_the_agent(agent, monkeypatch):
    """What the README's local example sets: AWS_REGION, no AWS_DEFAULT_REGION, no config file."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    agent.respond_with(sse([sse_event({"text": "from eu-west-1"})]))
    env = {"BACKEND": "agentcore", "AGENT_RUNTIME_ARN": ARN, "AWS_REGION": "eu-west-1"}
    with serve_process(env) as (base, _), FakeApiGateway(base, **TIMING) as gateway:
        response = httpx.post(gateway.url + "/invoke", json=PROMPT)
    assert (response.status_code, response.content) == (200, sse_event({"text": "from eu-west-1"}))
    assert "eu-west-1" in agent.last.request.headers["authorization"], "signed for the region it was given"


def test_healthz_waits_for_the_client_and_answers_200_once_it_can_serve(agent, serve):
    with serve(AgentCoreBackend(ARN, region="us-east-1")) as base:
        answers = [httpx.get(base + "/healthz", timeout=5)]
        while answers[-1].status_code == 503 and len(answers) < 10:  # each check waits up to a second
            answers.append(httpx.get(base + "/healthz", timeout=5))
    assert {a.status_code for a in answers[:-1]} <= {503}
    assert (answers[-1].status_code, answers[-1].json()) == (200, {"status": "ok", "backend": "agentcore"})
    assert agent.requests == [], "getting ready sends nothing to the agent"


def test_a_client_that_cannot_be_made_fails_readiness_and_logs_why(serve, monkeypatch, caplog):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with caplog.at_level(logging.ERROR), serve(AgentCoreBackend(ARN)) as base:
        health = httpx.get(base + "/healthz")
        answer = httpx.post(base + "/invoke", json=PROMPT)
    assert (health.status_code, health.json()["status"]) == (503, "not ready")
    assert answer.status_code == 502
    assert [record.getMessage() for record in caplog.records] == [
        "streamgate: the bedrock-agentcore client could not be made: You must specify a region."
    ]


def test_no_credentials_fail_the_function_init_loudly_instead_of_every_request(agent, monkeypatch):
    """Lambda Web Adapter polls /healthz until it answers below 500: never, here, so init fails."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    env = {
        **os.environ,
        "BACKEND": "agentcore",
        "AGENT_RUNTIME_ARN": ARN,
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    reason = "the bedrock-agentcore client could not be made: Unable to locate credentials"
    app = subprocess.Popen([sys.executable, "-m", "handler"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    logged: list[str] = []

    def read_log() -> None:
        for line in app.stderr:
            logged.append(line)

    threading.Thread(target=read_log, daemon=True).start()
    try:
        statuses = set()
        # The reason comes when the client fails, which a loaded machine may take seconds to get to; a
        # /healthz before that is a 503 too (still starting), and every one after it must stay one.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (statuses and any(reason in line for line in logged)):
            with contextlib.suppress(httpx.TransportError):
                statuses.add(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code)
            time.sleep(0.05)
        statuses.add(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code)
    finally:
        app.terminate()
        app.wait(10)
    assert statuses == {503}
    assert any(reason in line for line in logged), "".join(logged)
    assert agent.requests == []
