"""IAM documents for the function: exactly what the configured backend needs, on exactly its resources."""

from __future__ import annotations

import json

from infra.account import Account
from infra.config import Settings

# Cross-region inference profiles are named "<geo>.<model id>"; they route to the model in several regions.
INFERENCE_PROFILE_GEOS = frozenset({"us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"})


def lambda_assume_role_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def backend_statements(settings: Settings, account: Account) -> list[dict]:
    """The statements the app's backend needs; none for the demo backend."""
    if settings.backend == "agentcore":
        arn = settings.agent_runtime_arn
        # Invocations name the runtime and are authorized against its endpoints too; so is stopping the
        # session of a client that left.
        actions = ["bedrock-agentcore:InvokeAgentRuntime", "bedrock-agentcore:StopRuntimeSession"]
        return [_allow(actions, [arn, f"{arn}/runtime-endpoint/*"])]
    if settings.backend == "bedrock":
        statements = [_allow("bedrock:InvokeModelWithResponseStream", model_resources(settings.model_id, account))]
        if settings.model.guardrail_identifier:
            # Bedrock user guide, "Set up permissions to use Amazon Bedrock Guardrails": a call that names a
            # guardrail needs bedrock:ApplyGuardrail on it.
            statements.append(
                _allow("bedrock:ApplyGuardrail", [guardrail_arn(settings.model.guardrail_identifier, account)])
            )
        return statements
    return []


def guardrail_arn(identifier: str, account: Account) -> str:
    """The guardrail's ARN: as configured, or made from its id in the stack's account and region."""
    if identifier.startswith("arn:"):
        return identifier
    return f"arn:{account.partition}:bedrock:{account.region}:{account.account_id}:guardrail/{identifier}"


def model_resources(model_id: str, account: Account) -> list[str]:
    """ARNs a streaming call to `model_id` is authorized against: the profile and the models behind it."""
    p, region, account_id = account.partition, account.region, account.account_id
    if model_id.startswith("arn:"):
        kind, _, name = model_id.split(":", 5)[5].partition("/")
        if kind == "inference-profile":
            return [model_id, _foundation_model(p, "*", _strip_geo(name))]
        return [model_id]
    if _strip_geo(model_id) != model_id:
        return [
            f"arn:{p}:bedrock:{region}:{account_id}:inference-profile/{model_id}",
            # A cross-region profile may serve the call from any region of its geography.
            _foundation_model(p, "*", _strip_geo(model_id)),
        ]
    return [_foundation_model(p, region, model_id)]


def policy_document(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _foundation_model(partition: str, region: str, model_id: str) -> str:
    return f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"


def _strip_geo(model_id: str) -> str:
    geo, dot, rest = model_id.partition(".")
    return rest if dot and geo in INFERENCE_PROFILE_GEOS else model_id


def _allow(action: str | list[str], resources: list[str]) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resources}
