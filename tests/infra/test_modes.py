"""infra/modes.py: the (integration, transfer mode) pair decides URI, adapter mode, URL mode and timeout bounds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from infra.aws_rules import AwsRules, Refused
from infra.config import ConfigError
from infra.modes import AWS_PROXY, BUFFERED, FUNCTION_URL, STREAM, derive
from infra.offline import ROOT

FUNCTION = "aws:lambda/function:Function"
INTEGRATION = "aws:apigateway/integration:Integration"
FUNCTION_URL_TYPE = "aws:lambda/functionUrl:FunctionUrl"
BUFFERED_RUN = {"responseTransferMode": "BUFFERED", "integrationTimeoutMs": 29_000}


@pytest.mark.parametrize(
    ("integration", "transfer", "adapter", "url_mode", "lambda_path"),
    [
        (
            AWS_PROXY,
            STREAM,
            "response_stream",
            None,
            "2021-11-15/functions/{function_arn}/response-streaming-invocations",
        ),
        (AWS_PROXY, BUFFERED, "buffered", None, "2015-03-31/functions/{function_arn}/invocations"),
        (FUNCTION_URL, STREAM, "response_stream", "RESPONSE_STREAM", None),
        # The URL keeps streaming: the buffering happens in API Gateway (the seed's setup, kept to compare).
        (FUNCTION_URL, BUFFERED, "response_stream", "RESPONSE_STREAM", None),
    ],
)
def test_each_pair_derives_one_consistent_delivery(integration, transfer, adapter, url_mode, lambda_path):
    delivery = derive(integration, transfer)
    assert delivery.adapter_invoke_mode == adapter
    assert delivery.function_url_invoke_mode == url_mode
    assert delivery.lambda_invocation_path == lambda_path
    assert delivery.invokes_lambda_api is (lambda_path is not None)


def test_the_lambda_uri_is_only_for_aws_proxy():
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:f"
    assert derive(AWS_PROXY, BUFFERED).lambda_uri("aws", "eu-west-1", arn) == (
        f"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    )
    with pytest.raises(ValueError, match="calls the function URL"):
        derive(FUNCTION_URL, STREAM).lambda_uri("aws", "eu-west-1", arn)


def test_aws_proxy_buffered_uses_the_buffered_invoke_api_and_a_buffered_adapter(program):
    run = program("dev", integration="aws_proxy", **BUFFERED_RUN)
    arn = run.outputs["functionArn"]
    for integration in run.of_type(INTEGRATION):
        assert integration.inputs["responseTransferMode"] == "BUFFERED"
        assert (
            integration.inputs["uri"]
            == f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        )
    assert run.one(FUNCTION).plain["environment"]["variables"]["AWS_LWA_INVOKE_MODE"] == "buffered"
    assert not run.of_type(FUNCTION_URL_TYPE)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_aws_proxy_stream_uses_the_streaming_invoke_api_and_a_streaming_adapter(program, stack):
    run = program(stack, integration="aws_proxy")
    for integration in run.of_type(INTEGRATION):
        assert integration.inputs["uri"].endswith("/response-streaming-invocations")
        assert "/2021-11-15/functions/" in integration.inputs["uri"]
    assert run.one(FUNCTION).plain["environment"]["variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_function_url_buffered_keeps_a_streaming_url_and_adapter(program):
    run = program("dev", integration="function_url", **BUFFERED_RUN)
    assert run.one(FUNCTION_URL_TYPE).inputs["invokeMode"] == "RESPONSE_STREAM"
    assert run.one(FUNCTION).plain["environment"]["variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert {i.inputs["responseTransferMode"] for i in run.of_type(INTEGRATION)} == {"BUFFERED"}


def test_edge_cannot_raise_the_buffered_timeout_even_with_the_quota_flag(program):
    long_buffered = {"responseTransferMode": "BUFFERED", "allowLongBufferedTimeout": True}
    with pytest.raises(ConfigError) as refused:
        program("dev", endpointType="EDGE", integrationTimeoutMs=60_000, **long_buffered)
    assert str(refused.value) == (
        "streamgate:integrationTimeoutMs='60000' is not allowed: expected an integer from 50 to 29000 "
        "(EDGE endpoints cannot raise the BUFFERED limit; only REGIONAL and PRIVATE can)"
    )
    assert program("dev", endpointType="EDGE", integrationTimeoutMs=29_000, **long_buffered)
    regional = program("dev", integrationTimeoutMs=60_000, **long_buffered)
    assert {i.inputs["timeoutMilliseconds"] for i in regional.of_type(INTEGRATION)} == {60_000}


# --- the API Gateway double the mocks use (infra/aws_rules.py) -----------------------------------------------

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
STREAMING_URI = f"arn:aws:apigateway:us-east-1:lambda:path/2021-11-15/functions/{ARN}/response-streaming-invocations"
BUFFERED_URI = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ARN}/invocations"


def put_integration(rules: AwsRules, **inputs: object) -> None:
    rules.check(INTEGRATION, {"type": "AWS_PROXY", "restApi": "api", "timeoutMilliseconds": 29_000, **inputs})


@pytest.mark.parametrize(("mode", "uri"), [("STREAM", BUFFERED_URI), ("BUFFERED", STREAMING_URI)])
def test_api_gateway_refuses_a_lambda_uri_of_the_other_transfer_mode(mode, uri):
    with pytest.raises(Refused, match=f"a {mode} Lambda proxy integration must invoke"):
        put_integration(AwsRules(), responseTransferMode=mode, uri=uri)


def test_api_gateway_takes_the_matching_uris():
    put_integration(AwsRules(), responseTransferMode="STREAM", uri=STREAMING_URI)
    put_integration(AwsRules(), responseTransferMode="BUFFERED", uri=BUFFERED_URI)


def test_api_gateway_caps_timeouts_by_mode_and_endpoint_type():
    rules = AwsRules()
    rules.rest_api("edge", "EDGE")
    put_integration(
        rules, responseTransferMode="STREAM", uri=STREAMING_URI, restApi="edge", timeoutMilliseconds=900_000
    )
    with pytest.raises(Refused, match="between 50 ms and 29000 ms for a BUFFERED integration of a EDGE API"):
        put_integration(
            rules, responseTransferMode="BUFFERED", uri=BUFFERED_URI, restApi="edge", timeoutMilliseconds=29_001
        )
    with pytest.raises(Refused, match="between 50 ms and 900000 ms"):
        put_integration(rules, responseTransferMode="STREAM", uri=STREAMING_URI, timeoutMilliseconds=900_001)


def test_only_proxy_integrations_stream():
    with pytest.raises(Refused, match="STREAM is not supported for AWS integrations"):
        put_integration(AwsRules(), type="AWS", responseTransferMode="STREAM", uri=STREAMING_URI)


# --- one place -----------------------------------------------------------------------------------------------

MODE_WORDS = {"STREAM", "BUFFERED", "aws_proxy", "function_url", "response_stream", "buffered", "RESPONSE_STREAM"}
MODE_NAMES = {"AWS_PROXY", "FUNCTION_URL", "STREAM", "BUFFERED", "TRANSFER_MODES", "MODES"}
# The test doubles and the offline runner describe AWS, not the program's decisions.
NOT_THE_PROGRAM = {"modes.py", "aws_rules.py", "offline.py", "plan.py"}


def program_modules() -> list[Path]:
    return [path for path in sorted((ROOT / "infra").glob("*.py")) if path.name not in NOT_THE_PROGRAM] + [
        ROOT / "__main__.py"
    ]


@pytest.mark.parametrize("path", program_modules(), ids=lambda path: path.name)
def test_no_module_but_modes_compares_or_names_a_mode(path):
    tree = ast.parse(path.read_text())
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in MODE_WORDS}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "infra.modes"
        for alias in node.names
    }
    attributes = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "modes"
    }
    assert literals == set()
    # config.py validates the choice against the tables; nothing else needs to know the modes by name.
    allowed = {"MODES", "TRANSFER_MODES"} if path.name == "config.py" else set()
    assert (imported | attributes) & MODE_NAMES <= allowed
