"""REST integrations: the ones that reach Lambda stream with the matching URI, and timeouts fit the transfer mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.modes import BUFFERED, STREAM
from policy.kinds import resource_policy
from policy.uris import STREAMING_ACTION, STREAMING_VERSION, is_function_url, lambda_invocation

INTEGRATION = "aws:apigateway/integration:Integration"
# API Gateway's defaults when the property is left out (Integration API reference).
DEFAULT_TRANSFER_MODE = "BUFFERED"
DEFAULT_TIMEOUT_MS = 29_000
# Above this only STREAM may wait: the policy holds BUFFERED to its default quota, raised or not.
BUFFERED_TIMEOUT_QUOTA_MS = BUFFERED.quota_timeout_ms or DEFAULT_TIMEOUT_MS
STREAM_TIMEOUT_MAX_MS = STREAM.max_timeout_ms
HTTP_TYPES = ("HTTP", "HTTP_PROXY")
AWS_TYPES = ("AWS", "AWS_PROXY")


def transfer_mode(props: Mapping[str, Any]) -> str:
    return props.get("responseTransferMode") or DEFAULT_TRANSFER_MODE


def streaming_problem(name: str, props: Mapping[str, Any]) -> str | None:
    """Why this integration would buffer or be rejected, if it reaches a function URL or a Lambda invocation."""
    mode, kind, uri = transfer_mode(props), props.get("type"), props.get("uri") or ""
    if kind in HTTP_TYPES and is_function_url(uri):
        if mode != "STREAM":
            return (
                f"integration {name} proxies to the Lambda function URL {uri} with responseTransferMode {mode}: "
                "API Gateway would hold the whole answer and send it at the end. Set responseTransferMode STREAM."
            )
        return None
    invocation = lambda_invocation(uri) if kind in AWS_TYPES else None
    if invocation is None:
        return None
    if invocation.streaming and mode != "STREAM":
        return (
            f"integration {name} calls Lambda's streaming invocation ({invocation}) with responseTransferMode "
            f"{mode}: the transfer mode and the URI disagree (API Gateway rejects the pair, or the adapter's "
            "streaming prelude leaks into the answer). Set responseTransferMode STREAM."
        )
    if mode == "STREAM" and not invocation.streaming:
        return (
            f"integration {name} streams (responseTransferMode STREAM) but calls the buffered invocation "
            f"({invocation}): API Gateway rejects a URI that does not match the transfer mode. Use "
            f"…:lambda:path/{STREAMING_VERSION}/functions/<function arn>/{STREAMING_ACTION}."
        )
    return None


def timeout_problem(name: str, props: Mapping[str, Any]) -> str | None:
    mode = transfer_mode(props)
    timeout = int(props.get("timeoutMilliseconds") or DEFAULT_TIMEOUT_MS)
    if timeout > STREAM_TIMEOUT_MAX_MS:
        return (
            f"integration {name} has timeoutMilliseconds {timeout}: above {STREAM_TIMEOUT_MAX_MS}, the most API "
            "Gateway allows even with STREAM (15 minutes)."
        )
    if timeout > BUFFERED_TIMEOUT_QUOTA_MS and mode != "STREAM":
        return (
            f"integration {name} has timeoutMilliseconds {timeout} with responseTransferMode {mode}: only STREAM "
            f"may wait longer than {BUFFERED_TIMEOUT_QUOTA_MS} ms. Use STREAM, or a timeout of at most "
            f"{BUFFERED_TIMEOUT_QUOTA_MS}."
        )
    return None


def _streaming_problems(name: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    problem = streaming_problem(name, props) if resource_type == INTEGRATION else None
    return [problem] if problem else []


def _timeout_problems(name: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    problem = timeout_problem(name, props) if resource_type == INTEGRATION else None
    return [problem] if problem else []


STREAMING_INTEGRATION = resource_policy(
    "streaming-integration",
    "REST integrations that reach a Lambda function URL or Lambda's streaming invocation use "
    "responseTransferMode STREAM with the URI that matches it.",
    _streaming_problems,
)

INTEGRATION_TIMEOUT = resource_policy(
    "integration-timeout",
    f"Integration timeouts above {BUFFERED_TIMEOUT_QUOTA_MS} ms only with STREAM, and never above "
    f"{STREAM_TIMEOUT_MAX_MS} ms.",
    _timeout_problems,
)
