"""The integration toggle, decided here and nowhere else: what each mode means for the API and the function.

Two settings pick the path an answer takes: the integration (`function_url` or `aws_proxy`) and API Gateway's
response transfer mode (`STREAM` or `BUFFERED`). `derive()` turns the pair into one `Delivery`: the integration
type, the Lambda API path behind an `AWS_PROXY` URI, the adapter's invoke mode, the function URL's invoke mode and
the integration timeout's bounds. Everything else reads those fields and never compares mode names itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrationMode:
    name: str
    integration_type: str
    # None: the function gets no URL at all. API Gateway reaches it through Lambda's invocation API
    # instead, so a URL would only be a second, unused way in.
    function_url_auth: str | None
    # API Gateway cannot sign requests to a function URL, so the URL is public (auth NONE) and a shared
    # secret header is what keeps callers from going around the API (and its throttling, keys and WAF).
    origin_secret: bool
    # How the authorizer's caller reaches the app (handler/caller.py): API Gateway's request context, which
    # Lambda Web Adapter forwards from a proxy event; or a header the HTTP integration maps the principal into.
    caller_via: str


FUNCTION_URL = IntegrationMode(
    "function_url", "HTTP_PROXY", function_url_auth="NONE", origin_secret=True, caller_via="header"
)
AWS_PROXY = IntegrationMode(
    "aws_proxy", "AWS_PROXY", function_url_auth=None, origin_secret=False, caller_via="request_context"
)

MODES: dict[str, IntegrationMode] = {mode.name: mode for mode in (FUNCTION_URL, AWS_PROXY)}


@dataclass(frozen=True)
class TransferMode:
    """API Gateway's responseTransferMode and what an AWS_PROXY integration must match it with."""

    name: str
    # The Lambda API an AWS_PROXY URI names; API Gateway rejects a URI of the other mode ("Set up a Lambda proxy
    # integration with payload response streaming", API Gateway developer guide).
    lambda_invocation_path: str
    # Lambda Web Adapter's AWS_LWA_INVOKE_MODE for that API: its streaming prelude (metadata + 8 NUL bytes) would
    # otherwise land in the body of a buffered invoke, and a buffered adapter cannot feed a streaming one.
    adapter_invoke_mode: str
    max_timeout_ms: int
    # Above this the mode needs a service-quota increase, which only REGIONAL and PRIVATE APIs can get
    # (API Gateway quotas: "Integration timeout"); None when the maximum needs no quota.
    quota_timeout_ms: int | None
    warning: str | None


STREAM = TransferMode(
    "STREAM",
    lambda_invocation_path="2021-11-15/functions/{function_arn}/response-streaming-invocations",
    adapter_invoke_mode="response_stream",
    max_timeout_ms=900_000,
    quota_timeout_ms=None,
    warning=None,
)
BUFFERED = TransferMode(
    "BUFFERED",
    lambda_invocation_path="2015-03-31/functions/{function_arn}/invocations",
    adapter_invoke_mode="buffered",
    max_timeout_ms=300_000,
    quota_timeout_ms=29_000,
    warning=(
        "responseTransferMode=BUFFERED: API Gateway holds the whole answer and sends it at the end; "
        "kept only to compare with STREAM"
    ),
)

TRANSFER_MODES: dict[str, TransferMode] = {mode.name: mode for mode in (STREAM, BUFFERED)}
# The endpoint types whose BUFFERED integration timeout may be raised above the quota.
RAISABLE_TIMEOUT_ENDPOINTS = ("REGIONAL", "PRIVATE")


@dataclass(frozen=True)
class Delivery:
    """Everything that follows from the integration and the transfer mode; built by `derive()` only."""

    integration: IntegrationMode
    transfer: TransferMode
    adapter_invoke_mode: str
    # The function URL's InvokeMode; None when the function has no URL.
    function_url_invoke_mode: str | None
    # The Lambda API path the AWS_PROXY URI names; None when API Gateway calls a function URL.
    lambda_invocation_path: str | None

    @property
    def invokes_lambda_api(self) -> bool:
        """API Gateway calls Lambda's invoke API itself (and so needs a lambda:InvokeFunction permission)."""
        return self.lambda_invocation_path is not None

    def lambda_uri(self, partition: str, region: str, function_arn: str) -> str:
        if self.lambda_invocation_path is None:
            raise ValueError(f"integration={self.integration.name} calls the function URL, not Lambda's API")
        path = self.lambda_invocation_path.format(function_arn=function_arn)
        return f"arn:{partition}:apigateway:{region}:lambda:path/{path}"

    def timeout_limit_ms(self, endpoint_type: str, allow_long_buffered: bool) -> tuple[int, str]:
        """The highest integration timeout API Gateway takes for this mode, and why it is that one."""
        transfer = self.transfer
        if transfer.quota_timeout_ms is None:
            return transfer.max_timeout_ms, f"the {transfer.name} maximum"
        if not allow_long_buffered:
            why = f"the {transfer.name} limit without a quota increase; see allowLongBufferedTimeout"
            return transfer.quota_timeout_ms, why
        if endpoint_type not in RAISABLE_TIMEOUT_ENDPOINTS:
            why = f"{endpoint_type} endpoints cannot raise the {transfer.name} limit; only REGIONAL and PRIVATE can"
            return transfer.quota_timeout_ms, why
        return transfer.max_timeout_ms, f"the {transfer.name} maximum, with a raised quota"


def derive(integration: IntegrationMode, transfer: TransferMode) -> Delivery:
    """The one place a (integration, transfer mode) pair becomes concrete settings."""
    if integration.function_url_auth is not None:
        # The URL always streams: with BUFFERED it is API Gateway that holds the answer back (the buffering the
        # seed project hit, kept to compare), and HTTP_PROXY's URI does not depend on the mode.
        return Delivery(
            integration,
            transfer,
            adapter_invoke_mode=STREAM.adapter_invoke_mode,
            function_url_invoke_mode="RESPONSE_STREAM",
            lambda_invocation_path=None,
        )
    return Delivery(
        integration,
        transfer,
        adapter_invoke_mode=transfer.adapter_invoke_mode,
        function_url_invoke_mode=None,
        lambda_invocation_path=transfer.lambda_invocation_path,
    )


# The header API Gateway adds and the app checks (handler reads ORIGIN_VERIFY_HEADER).
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"


def function_url_uri(function_url: str, route: str) -> str:
    # Lambda returns the URL with a trailing slash; tolerate either form.
    return function_url.rstrip("/") + "/" + route
