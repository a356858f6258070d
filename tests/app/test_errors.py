"""Errors tell the caller what they need and no more: a stable code, a human message and the request id;
the access log pairs that id with the full detail."""

from __future__ import annotations

import dataclasses
import json

import boto3
import httpx
import pytest
from botocore.config import Config

from handler.backends.agentcore import AgentCoreBackend
from handler.errors import redact
from tests.app.expect import without_request_id
from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import error, json_answer, sse, sse_event
from tests.loopback import free_port

ACCOUNT = "123456789012"
ARN = f"arn:aws:bedrock-agentcore:us-east-1:{ACCOUNT}:runtime/agent-Ab12Cd34Ef"
GATEWAY_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


@pytest.fixture
def agent(serve):
    """(the fake AgentCore, the app's base URL in front of it)."""
    with FakeAgentCore() as fake, serve(AgentCoreBackend(ARN, client=fake.client())) as base:
        yield fake, base


def assert_nothing_internal(text: str) -> None:
    for secret in (ACCOUNT, "arn:aws", "arn%3Aaws", "http://", "127.0.0.1", "Error(", "IncompleteRead", "urllib3"):
        assert secret not in text, f"{secret!r} leaked into {text!r}"


def test_an_unreachable_endpoint_is_a_502_without_its_url_and_the_log_keeps_the_url(serve, access_log):
    nowhere = f"http://127.0.0.1:{free_port()}"
    client = boto3.client(
        "bedrock-agentcore",
        endpoint_url=nowhere,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with serve(AgentCoreBackend(ARN, client=client)) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "q"})
    assert response.status_code == 502
    assert without_request_id(response.json()) == {
        "error": "UpstreamUnavailable",
        "message": "the upstream could not be reached",
    }
    assert_nothing_internal(response.text)
    (line,) = access_log.records()
    assert line["request_id"] == response.json()["request_id"]
    assert nowhere in line["error_detail"], "the operator sees which endpoint failed"


def test_an_answer_cut_short_mid_stream_names_no_library_internals(agent, access_log):
    fake, app = agent
    fake.respond_with(dataclasses.replace(json_answer(b'{"text": "trunc'), declared_length=1000))
    response = httpx.post(app + "/invoke", json={"prompt": "q"})
    error_event = response.text.split("event: error\n")[-1]
    assert json.loads(error_event.removeprefix("data: "))["error"] == "UpstreamInterrupted"
    assert_nothing_internal(response.text)
    (line,) = access_log.records()
    assert "IncompleteRead" in line["error_detail"]
    assert line["request_id"] == json.loads(error_event.removeprefix("data: "))["request_id"]


def test_an_aws_validation_message_passes_through_with_arns_and_account_ids_redacted(agent, access_log):
    fake, app = agent
    message = f"Runtime {ARN} not found in account {ACCOUNT}; see https://bedrock-agentcore.amazonaws.com/x"
    fake.respond_with(error("ValidationException", message))
    response = httpx.post(app + "/invoke", json={"prompt": "q"})
    assert response.status_code == 400
    assert without_request_id(response.json()) == {
        "error": "ValidationException",
        "message": "Runtime <arn> not found in account <account>; see <url>",
    }
    assert ARN in access_log.records()[0]["error_detail"]


def test_the_request_id_is_api_gateways_when_the_adapter_forwards_its_request_context(agent, access_log):
    fake, app = agent
    fake.respond_with(error("ThrottlingException", "slow down"))
    context = json.dumps({"requestId": GATEWAY_REQUEST_ID, "stage": "dev"})
    response = httpx.post(app + "/invoke", json={"prompt": "q"}, headers={"x-amzn-request-context": context})
    assert response.json()["request_id"] == GATEWAY_REQUEST_ID
    assert access_log.records()[0]["request_id"] == GATEWAY_REQUEST_ID


def test_every_request_gets_its_own_id_in_the_log(agent, access_log):
    fake, app = agent
    fake.respond_with(sse([sse_event({"text": "hi"})]))
    for _ in range(2):
        httpx.post(app + "/invoke", json={"prompt": "q"})
    first, second = access_log.records(at_least=2)
    assert first["request_id"] != second["request_id"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            'Could not connect to the endpoint URL: "https://x.us-east-1.amazonaws.com/runtimes/a"',
            'endpoint URL: "<url>"',
        ),
        (
            "runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fx/invocations",
            "runtimes/<arn>",
        ),
        ("account 123456789012 may not", "account <account> may not"),
        ("a lone \ud800 surrogate", "a lone \ufffd surrogate"),
    ],
)
def test_redaction_hides_urls_arns_and_account_ids_and_keeps_text_encodable(text, shown):
    assert shown in redact(text)
    redact(text).encode("utf-8")
