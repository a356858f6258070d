"""The CrossGuard pack: the program's own plans pass it, and each deliberately broken resource trips exactly one
policy, once, with a message that says what is wrong and what to do instead."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from infra.offline import OfflineRun, Registered
from policy.bedrock_access import ROLE
from policy.function_urls import FUNCTION_URL
from policy.images import FUNCTION
from policy.integrations import INTEGRATION
from policy.offline import analyze
from policy.pack import POLICIES
from policy.stages import METHOD_SETTINGS, STAGE

STACKS = ("dev", "prod")
MODES = ("function_url", "aws_proxy")
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# A buffered HTTP backend that is not Lambda: the streaming rule does not apply to it, the timeout rule does.
ELSEWHERE = {"type": "HTTP_PROXY", "uri": "https://backend.example.com/invoke", "responseTransferMode": "BUFFERED"}
BUFFERED_URI = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("mode", MODES)
def test_the_plans_of_both_stacks_in_both_modes_pass_every_policy(program, stack, mode):
    run = program(stack, integration=mode)
    assert analyze(run.resources) == []


def test_the_pack_has_every_mandatory_policy_named_once():
    names = [policy.name for policy in POLICIES]
    assert sorted(names) == sorted(
        {
            "streaming-integration",
            "integration-timeout",
            "guarded-function-url",
            "image-by-digest",
            "scoped-bedrock-access",
            "no-cache-on-streaming-stages",
        }
    )


# --- deliberately broken plans ---------------------------------------------------------------------------------


def edited(run: OfflineRun, type_: str, name: str, **changes: object) -> tuple[list[Registered], str]:
    """A copy of the run's resources with one resource's properties changed (None removes one); and its URN."""
    resources = copy.deepcopy(run.resources)
    (target,) = [r for r in resources if r.type == type_ and r.name == name]
    for key, value in changes.items():
        for props in (target.inputs, target.state):
            if value is None:
                props.pop(key, None)
                target.property_dependencies.pop(key, None)
            else:
                props[key] = value
    return resources, target.urn


def added(run: OfflineRun, resource: Registered) -> tuple[list[Registered], str]:
    return [*copy.deepcopy(run.resources), resource], resource.urn


def function_arn(run: OfflineRun) -> str:
    return run.outputs["functionArn"]


def policy_document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@dataclass(frozen=True)
class Breakage:
    policy: str
    says: str
    stack: str
    mode: str
    # run -> (the broken resources, the URN of the resource the violation must name)
    breaks: Callable[[OfflineRun], tuple[list[Registered], str]]


BREAKAGES = {
    "function URL behind a BUFFERED integration": Breakage(
        "streaming-integration",
        "proxies to the Lambda function URL",
        "dev",
        "function_url",
        lambda run: edited(
            run, INTEGRATION, "api-post-integration", responseTransferMode="BUFFERED", timeoutMilliseconds=29000
        ),
    ),
    "streaming invocation URI with BUFFERED": Breakage(
        "streaming-integration",
        "calls Lambda's streaming invocation (2021-11-15/functions/…/response-streaming-invocations) with "
        "responseTransferMode BUFFERED",
        "prod",
        "aws_proxy",
        lambda run: edited(
            run, INTEGRATION, "api-post-integration", responseTransferMode="BUFFERED", timeoutMilliseconds=29000
        ),
    ),
    "STREAM with the buffered invocation URI": Breakage(
        "streaming-integration",
        "calls the buffered invocation (2015-03-31/functions/…/invocations)",
        "prod",
        "aws_proxy",
        lambda run: edited(run, INTEGRATION, "api-options-integration", uri=BUFFERED_URI.format(arn=function_arn(run))),
    ),
    "STREAM timeout above 15 minutes": Breakage(
        "integration-timeout",
        "timeoutMilliseconds 900001: above 900000",
        "dev",
        "function_url",
        lambda run: edited(run, INTEGRATION, "api-post-integration", timeoutMilliseconds=900001),
    ),
    "a long timeout on a BUFFERED integration to elsewhere": Breakage(
        "integration-timeout",
        "timeoutMilliseconds 60000 with responseTransferMode BUFFERED: only STREAM may wait longer than 29000 ms",
        "dev",
        "aws_proxy",
        lambda run: edited(run, INTEGRATION, "api-post-integration", **ELSEWHERE, timeoutMilliseconds=60000),
    ),
    "public URL reached without the origin header": Breakage(
        "guarded-function-url",
        "integration api-options-integration proxies to the public function URL handler-url (auth NONE) without "
        "mapping the origin secret (integration.request.header.X-Origin-Verify",
        "dev",
        "function_url",
        lambda run: edited(run, INTEGRATION, "api-options-integration", requestParameters=None),
    ),
    "public URL reached with an empty origin header": Breakage(
        "guarded-function-url",
        "without mapping the origin secret",
        "prod",
        "function_url",
        lambda run: edited(
            run,
            INTEGRATION,
            "api-post-integration",
            requestParameters={"integration.request.header.X-Origin-Verify": "''"},
        ),
    ),
    "public URL with nothing in front": Breakage(
        "guarded-function-url",
        "function URL direct-url has auth NONE and no API Gateway integration in front of it",
        "dev",
        "aws_proxy",
        lambda run: added(
            run,
            Registered(
                FUNCTION_URL,
                "direct-url",
                {"functionName": "handler", "authorizationType": "NONE", "invokeMode": "RESPONSE_STREAM"},
                {"functionName": "handler", "authorizationType": "NONE", "invokeMode": "RESPONSE_STREAM"},
                urn="urn:pulumi:dev::streamgate::aws:lambda/functionUrl:FunctionUrl::direct-url",
            ),
        ),
    ),
    "image by tag": Breakage(
        "image-by-digest",
        "function handler runs the image 123456789012.dkr.ecr.us-east-1.amazonaws.com/handler:prod by tag",
        "prod",
        "aws_proxy",
        lambda run: edited(
            run, FUNCTION, "handler", imageUri="123456789012.dkr.ecr.us-east-1.amazonaws.com/handler:prod"
        ),
    ),
    "image by tag and digest": Breakage(
        "image-by-digest",
        "both a tag and a digest",
        "dev",
        "function_url",
        lambda run: edited(
            run,
            FUNCTION,
            "handler",
            imageUri="123456789012.dkr.ecr.us-east-1.amazonaws.com:443/handler:dev@sha256:" + "a" * 64,
        ),
    ),
    "agent runtime invocation on every resource": Breakage(
        "scoped-bedrock-access",
        'handler-backend: statement 0 allows bedrock-agentcore:InvokeAgentRuntime on Resource "*"',
        "prod",
        "aws_proxy",
        lambda run: edited(
            run,
            ROLE_POLICY,
            "handler-backend",
            policy=policy_document(
                {"Effect": "Allow", "Action": "bedrock-agentcore:InvokeAgentRuntime", "Resource": "*"}
            ),
        ),
    ),
    "bedrock wildcard actions on every resource, second statement": Breakage(
        "scoped-bedrock-access",
        'statement 1 allows bedrock:* on Resource "*"',
        "prod",
        "function_url",
        lambda run: edited(
            run,
            ROLE_POLICY,
            "handler-backend",
            policy=policy_document(
                {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"},
                {"Effect": "Allow", "Action": ["s3:GetObject", "bedrock:*"], "Resource": ["arn:aws:s3:::b/*", "*"]},
            ),
        ),
    ),
    "everything but S3 in a role's inline policy": Breakage(
        "scoped-bedrock-access",
        'statement 0 allows every action but s3:* on Resource "*"',
        "dev",
        "function_url",
        lambda run: edited(
            run,
            ROLE,
            "handler-role",
            inlinePolicies=[
                {"name": "broad", "policy": policy_document({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})}
            ],
        ),
    ),
    "a cache cluster on a streaming stage": Breakage(
        "no-cache-on-streaming-stages",
        "stage api-stage has a cache cluster (cacheClusterEnabled)",
        "prod",
        "aws_proxy",
        lambda run: edited(run, STAGE, "api-stage", cacheClusterEnabled=True, cacheClusterSize="0.5"),
    ),
    "method caching on a streaming stage": Breakage(
        "no-cache-on-streaming-stages",
        "method settings api-method-settings turn on caching",
        "dev",
        "function_url",
        lambda run: edited(
            run,
            METHOD_SETTINGS,
            "api-method-settings",
            settings={"metricsEnabled": True, "cachingEnabled": True, "cacheTtlInSeconds": 300},
        ),
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_resource_trips_exactly_its_policy_once_with_its_message(program, breakage):
    run = program(breakage.stack, integration=breakage.mode)
    resources, urn = breakage.breaks(run)
    (violation,) = analyze(resources)
    (policy,) = [policy for policy in POLICIES if policy.name == breakage.policy]
    assert (violation.policy, violation.level, violation.urn) == (breakage.policy, "mandatory", urn)
    assert violation.message.startswith(policy.description + "\n")
    assert breakage.says in violation.message


def test_every_policy_is_shown_to_fire():
    assert {breakage.policy for breakage in BREAKAGES.values()} == {policy.name for policy in POLICIES}


# --- what the pack means for settings the program allows -------------------------------------------------------


def integration_urns(run: OfflineRun) -> list[str]:
    return sorted(integration.urn for integration in run.of_type(INTEGRATION))


def test_the_buffered_comparison_setting_is_refused_on_every_integration(program):
    run = program("dev", responseTransferMode="BUFFERED", integrationTimeoutMs=29000)
    violations = analyze(run.resources)
    assert sorted(v.urn for v in violations) == integration_urns(run)
    assert {v.policy for v in violations} == {"streaming-integration"}


def test_a_buffered_lambda_proxy_is_consistent_and_passes_but_a_long_buffered_timeout_does_not(program):
    # aws_proxy + BUFFERED calls the buffered 2015-03-31 invocation: the URI matches the mode, nothing streams.
    assert (
        analyze(
            program(
                "dev", integration="aws_proxy", responseTransferMode="BUFFERED", integrationTimeoutMs=29000
            ).resources
        )
        == []
    )
    run = program(
        "dev",
        integration="aws_proxy",
        responseTransferMode="BUFFERED",
        allowLongBufferedTimeout=True,
        integrationTimeoutMs=60000,
    )
    violations = analyze(run.resources)
    assert sorted(v.urn for v in violations) == integration_urns(run)
    assert {v.policy for v in violations} == {"integration-timeout"}


def test_a_policy_pack_config_file_can_downgrade_a_policy_for_a_comparison_stack(program):
    run = program("dev", responseTransferMode="BUFFERED", integrationTimeoutMs=29000)
    notes = analyze(run.resources, levels={"streaming-integration": "advisory"})
    assert [(note.policy, note.level) for note in notes] == [("streaming-integration", "advisory")] * len(
        integration_urns(run)
    )


def test_a_value_unknown_during_preview_is_an_advisory_note_not_a_pass_or_a_failure(program):
    # On a first `pulumi preview` the function URL does not exist yet, so the integration's URI is unknown.
    run = program("dev", integration="function_url")
    resources, urn = edited(run, INTEGRATION, "api-post-integration", uri=UNKNOWN_STRING_VALUE)
    (note,) = analyze(resources)
    assert (note.policy, note.level, note.urn) == ("streaming-integration", "advisory", urn)
    assert "can't run policy 'streaming-integration'" in note.message
    assert "during preview" in note.message


def test_an_integration_that_reaches_no_lambda_is_left_alone(program):
    run = program("prod", integration="aws_proxy")
    resources, _ = edited(run, INTEGRATION, "api-post-integration", **ELSEWHERE, timeoutMilliseconds=29000)
    assert analyze(resources) == []


def test_bedrock_statements_scoped_to_arns_or_denying_pass(program):
    run = program("prod", integration="aws_proxy")
    document = policy_document(
        {
            "Effect": "Allow",
            "Action": "bedrock:InvokeModelWithResponseStream",
            "Resource": "arn:aws:bedrock:*::foundation-model/m",
        },
        {"Effect": "Deny", "Action": "bedrock:*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": ["bedrock:*", "bedrock-agentcore:*"], "Resource": "arn:aws:s3:::b/*"},
        {"Effect": "Allow", "NotAction": ["bedrock*:*"], "Resource": "*"},
    )
    resources, _ = edited(run, ROLE_POLICY, "handler-backend", policy=document)
    assert analyze(resources) == []
