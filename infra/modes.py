"""The integration toggle, decided here and nowhere else: what each mode means for the API and the function."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrationMode:
    name: str
    integration_type: str
    # None: the function gets no URL at all. API Gateway reaches it through Lambda's streaming invocation
    # API instead, so a URL would only be a second, unused way in.
    function_url_auth: str | None
    # API Gateway cannot sign requests to a function URL, so the URL is public (auth NONE) and a shared
    # secret header is what keeps callers from going around the API (and its throttling, keys and WAF).
    origin_secret: bool


FUNCTION_URL = IntegrationMode("function_url", "HTTP_PROXY", function_url_auth="NONE", origin_secret=True)
AWS_PROXY = IntegrationMode("aws_proxy", "AWS_PROXY", function_url_auth=None, origin_secret=False)

MODES: dict[str, IntegrationMode] = {mode.name: mode for mode in (FUNCTION_URL, AWS_PROXY)}

# The header API Gateway adds and the app checks (handler reads ORIGIN_VERIFY_HEADER).
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"

# The Lambda API version whose path serves InvokeWithResponseStream; plain `2015-03-31/.../invocations`
# would buffer the whole answer.
STREAMING_INVOCATION_PATH = "2021-11-15/functions/{function_arn}/response-streaming-invocations"


def aws_proxy_uri(partition: str, region: str, function_arn: str) -> str:
    path = STREAMING_INVOCATION_PATH.format(function_arn=function_arn)
    return f"arn:{partition}:apigateway:{region}:lambda:path/{path}"


def function_url_uri(function_url: str, route: str) -> str:
    # Lambda returns the URL with a trailing slash; tolerate either form.
    return function_url.rstrip("/") + "/" + route
