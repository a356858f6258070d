"""StreamingApi: the REST API that streams the function's answers, wired through the configured integration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handler.caller import CALLER_HEADER
from infra.account import Account
from infra.auth import MethodAuth, method_auth, principal_expression
from infra.config import Settings, certificate_in_region
from infra.function import StreamingFunction
from infra.modes import ORIGIN_VERIFY_HEADER, function_url_uri


@dataclass(frozen=True)
class ApiRoute:
    """One path of the API and the verbs API Gateway passes on to the app. Add a route here: every route gets
    its access control from this one place."""

    name: str
    path: str  # "" is the API's root
    verbs: tuple[str, ...]
    # Whether the stack's access control (apiKeyRequired, the authorizer) applies: a browser opening a page
    # sends no key and no token.
    guarded: bool = True

    def guards(self, verb: str) -> bool:
        """Whether `verb` needs the key and the authorizer; never a preflight, which carries no credentials."""
        return self.guarded and verb != "OPTIONS"


# Preflight goes to the app too, so its CORS answer has one author (handler/app.py).
INVOKE = ApiRoute("invoke", "invoke", ("POST", "OPTIONS"))
PAGE = ApiRoute("page", "", ("GET",), guarded=False)
# OpenAI's chat-completions API under the stage (base URL `<stage URL>/v1`); the agentcore backend answers
# them with a 404 that says why, rather than API Gateway's bare 403 for a path it does not route.
CHAT_COMPLETIONS = ApiRoute("chat-completions", "v1/chat/completions", ("POST", "OPTIONS"))
MODELS = ApiRoute("models", "v1/models", ("GET", "OPTIONS"))
ROUTE = INVOKE.path


def api_routes(settings: Settings) -> list[ApiRoute]:
    routes = [INVOKE, CHAT_COMPLETIONS, MODELS]
    return [*routes, PAGE] if settings.web_ui else routes


def _resource_name(name: str, route: ApiRoute, verb: str) -> str:
    # /invoke keeps its round-1 names, so deployed stacks update its methods rather than replace them.
    return f"{name}-{verb.lower()}" if route is INVOKE else f"{name}-{route.name}-{verb.lower()}"


# API Gateway's $context variables (developer guide: "Variables for access logging", and "Troubleshoot issues with
# response streaming" for the integration.* timings). Values are quoted: an empty one prints "-".
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.resourcePath",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "wafStatus": "$context.waf.status",
    # How the answer streamed: STREAMED or BUFFERED, then ms from the integration connection to all the
    # response headers and to the first byte of content (integrationLatency runs to the stream's end).
    "transferMode": "$context.integration.responseTransferMode",
    "timeToAllHeaders": "$context.integration.timeToAllHeaders",
    "timeToFirstContent": "$context.integration.timeToFirstContent",
    # Who called, by whichever authorizer the method has ("-" otherwise); never a token.
    "principalId": "$context.authorizer.principalId",
    "cognitoSub": "$context.authorizer.claims.sub",
    "callerArn": "$context.identity.userArn",
    "apiKeyId": "$context.identity.apiKeyId",
}
ACCESS_LOG_FORMAT = json.dumps(ACCESS_LOG_FIELDS)


def integration_args(
    settings: Settings, route: ApiRoute, verb: str, function: StreamingFunction, account: pulumi.Output[Account]
) -> dict[str, pulumi.Input]:
    """How API Gateway reaches the function for `verb` on `route`, for the configured mode."""
    delivery = settings.delivery
    common: dict[str, pulumi.Input] = {
        "type": delivery.integration.integration_type,
        "response_transfer_mode": delivery.transfer.name,
        "timeout_milliseconds": settings.integration_timeout_ms,
    }
    if delivery.invokes_lambda_api:
        uri = pulumi.Output.all(account, function.function.arn).apply(
            lambda values: delivery.lambda_uri(values[0].partition, values[0].region, values[1])
        )
        # Lambda's invoke API is always a POST, whatever the client's verb.
        return {**common, "integration_http_method": "POST", "uri": uri}
    assert function.url is not None
    assert function.origin_secret is not None
    parameters: dict[str, pulumi.Input] = {
        # A static value ('…' quoted) that the app compares before doing any work.
        f"integration.request.header.{ORIGIN_VERIFY_HEADER}": function.origin_secret.apply(lambda s: f"'{s}'")
    }
    principal = principal_expression(settings)
    if principal and delivery.integration.caller_via == "header" and route.guards(verb):
        # API Gateway sets this header from the authorizer's result, replacing any the client sent.
        parameters[f"integration.request.header.{CALLER_HEADER}"] = principal
    return {
        **common,
        "integration_http_method": verb,
        "uri": function.url.apply(lambda url: function_url_uri(url, route.path)),
        "request_parameters": parameters,
    }


def gateway_cors_headers(origins: tuple[str, ...]) -> dict[str, str]:
    """CORS headers for API Gateway's own answers. A gateway response cannot match an Origin against a list, so
    with several origins it echoes the request's (`method.request.header.Origin`): such an answer carries no data,
    only the refusal. With one origin (or `*`) it is a static value."""
    if not origins:
        return {}
    if len(origins) == 1:
        return {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{origins[0]}'"}
    return {
        "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
        "gatewayresponse.header.Vary": "'Origin'",
    }


def redeployment_hash(shape: dict) -> str:
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()


class StreamingApi(pulumi.ComponentResource):
    """REST API `/invoke` (POST, OPTIONS) and, with webUi, `/` (GET) → the function, with stage,
    throttling and optional extras."""

    invoke_url: pulumi.Output[str]
    page_url: pulumi.Output[str] | None
    # What CloudWatch's AWS/ApiGateway metrics are keyed by (ApiName), with the stage name.
    api_name: pulumi.Output[str]
    stage: aws.apigateway.Stage
    api_key_id: pulumi.Output[str] | None
    access_log_group: aws.cloudwatch.LogGroup | None
    domain_target: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        settings: Settings,
        function: StreamingFunction,
        account: pulumi.Output[Account],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:index:StreamingApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        api = aws.apigateway.RestApi(
            name,
            description=f"streamgate {settings.stack}: streams answers from the handler",
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(types=settings.endpoint_type),
            opts=child,
        )
        auth = method_auth(name, settings, api, child)
        shaping: list[pulumi.Resource] = []
        shape: dict[str, pulumi.Input] = {"endpoint_type": settings.endpoint_type, "route": ROUTE}
        if settings.authorizer != "none":
            # An authorizer's own settings (pools, TTL) reach callers only with a new deployment.
            shape["authorizer"] = [
                settings.authorizer,
                settings.cognito_user_pool_arns,
                settings.authorization_scopes,
                settings.authorizer_function_arn,
                settings.authorizer_result_ttl,
            ]
        routes = api_routes(settings)
        resources: dict[str, pulumi.Output[str]] = {}
        for route in routes:
            resource_id = self._resource(name, api, route.path, resources, child)
            for verb in route.verbs:
                key_required = settings.api_key_required and route.guards(verb)
                access = auth.method_args() if route.guards(verb) else MethodAuth.open_args()
                method = aws.apigateway.Method(
                    _resource_name(name, route, verb),
                    rest_api=api.id,
                    resource_id=resource_id,
                    http_method=verb,
                    api_key_required=key_required,
                    **access,
                    opts=child,
                )
                args = integration_args(settings, route, verb, function, account)
                integration = aws.apigateway.Integration(
                    f"{_resource_name(name, route, verb)}-integration",
                    rest_api=api.id,
                    resource_id=resource_id,
                    http_method=method.http_method,
                    **args,
                    opts=child,
                )
                shaping += [method, integration]
                # /invoke's verbs stay top-level keys: the hash of an unchanged stack stays the same.
                shape[verb if route is INVOKE else f"{verb} /{route.path}"] = {
                    "api_key_required": key_required,
                    **access,
                    **args,
                }
        shaping += self._cors_on_gateway_errors(name, settings, api, child)
        shape["cors_allow_origin"] = ",".join(settings.cors_allow_origins)

        if settings.delivery.invokes_lambda_api:
            for route in routes:
                # Each route's own path only: …/{stage}/{verb}/{path}, the root's path being empty.
                aws.lambda_.Permission(
                    f"{name}-{route.name}",
                    function=function.function.name,
                    action="lambda:InvokeFunction",
                    principal="apigateway.amazonaws.com",
                    source_arn=api.execution_arn.apply(lambda arn, path=route.path: f"{arn}/*/*/{path}"),
                    opts=child,
                )

        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=api.id,
            # Anything that shapes the API changes this hash, so switching modes (or timeouts) redeploys.
            triggers={"redeployment": pulumi.Output.from_input(shape).apply(redeployment_hash)},
            # After the function: a rotated origin secret goes live only once the function accepts it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*shaping, function.function]),
        )
        self.access_log_group = self._access_log_group(name, settings, child)
        self.stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=api.id,
            deployment=deployment.id,
            stage_name=settings.stage_name,
            xray_tracing_enabled=settings.tracing,
            access_log_settings=(
                aws.apigateway.StageAccessLogSettingsArgs(
                    destination_arn=self.access_log_group.arn, format=ACCESS_LOG_FORMAT
                )
                if self.access_log_group
                else None
            ),
            opts=child,
        )
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=api.id,
            stage_name=self.stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                metrics_enabled=True,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
                # A cache would replay whole answers, and STREAM does not support one.
                caching_enabled=False,
            ),
            opts=child,
        )
        self.api_key_id = self._api_key(name, settings, api, child)
        if settings.waf_web_acl_arn:
            aws.wafv2.WebAclAssociation(
                f"{name}-waf", resource_arn=self.stage.arn, web_acl_arn=settings.waf_web_acl_arn, opts=child
            )
        self.domain_target = self._custom_domain(name, settings, api, account, child)
        self.api_name = api.name
        self.invoke_url = self.stage.invoke_url.apply(lambda url: f"{url.rstrip('/')}/{ROUTE}")
        self.page_url = self.stage.invoke_url.apply(lambda url: f"{url.rstrip('/')}/") if settings.web_ui else None
        self.register_outputs({"invoke_url": self.invoke_url})

    @staticmethod
    def _resource(
        name: str,
        api: aws.apigateway.RestApi,
        path: str,
        made: dict[str, pulumi.Output[str]],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """The id of the resource at `path`, made segment by segment (once each) under the root."""
        parent: pulumi.Output[str] = api.root_resource_id
        prefix = ""
        for segment in filter(None, path.split("/")):
            prefix = f"{prefix}/{segment}" if prefix else segment
            if prefix not in made:
                made[prefix] = aws.apigateway.Resource(
                    f"{name}-{prefix.replace('/', '-')}",
                    rest_api=api.id,
                    parent_id=parent,
                    path_part=segment,
                    opts=child,
                ).id
            parent = made[prefix]
        return parent

    def _cors_on_gateway_errors(
        self, name: str, settings: Settings, api: aws.apigateway.RestApi, child: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        # API Gateway's own refusals (missing key or token, throttled, WAF) never reach the app; without this
        # header a browser reports them as opaque CORS failures.
        if not settings.cors_allow_origins:
            return []
        return [
            aws.apigateway.Response(
                f"{name}-{kind.lower().replace('_', '-')}",
                rest_api_id=api.id,
                response_type=kind,
                response_parameters=gateway_cors_headers(settings.cors_allow_origins),
                opts=child,
            )
            for kind in ("DEFAULT_4XX", "DEFAULT_5XX")
        ]

    def _access_log_group(
        self, name: str, settings: Settings, child: pulumi.ResourceOptions
    ) -> aws.cloudwatch.LogGroup | None:
        if not settings.access_logs:
            return None
        return aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{pulumi.get_project()}-{settings.stack}",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )

    def _api_key(
        self, name: str, settings: Settings, api: aws.apigateway.RestApi, child: pulumi.ResourceOptions
    ) -> pulumi.Output[str] | None:
        if not settings.api_key_required:
            return None
        key = aws.apigateway.ApiKey(f"{name}-key", opts=child)
        plan = aws.apigateway.UsagePlan(
            f"{name}-usage-plan",
            api_stages=[aws.apigateway.UsagePlanApiStageArgs(api_id=api.id, stage=self.stage.stage_name)],
            throttle_settings=aws.apigateway.UsagePlanThrottleSettingsArgs(
                rate_limit=settings.throttle_rate_limit, burst_limit=settings.throttle_burst_limit
            ),
            # Beside the rate limits: a ceiling on what one key can spend per period.
            quota_settings=(
                aws.apigateway.UsagePlanQuotaSettingsArgs(limit=settings.quota_limit, period=settings.quota_period)
                if settings.quota_limit
                else None
            ),
            opts=child,
        )
        aws.apigateway.UsagePlanKey(
            f"{name}-usage-plan-key", key_id=key.id, key_type="API_KEY", usage_plan_id=plan.id, opts=child
        )
        return key.id

    def _custom_domain(
        self,
        name: str,
        settings: Settings,
        api: aws.apigateway.RestApi,
        account: pulumi.Output[Account],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str] | None:
        if not settings.domain_name or not settings.certificate_arn:
            return None
        regional = settings.endpoint_type == "REGIONAL"
        certificate = settings.certificate_arn
        # The region may come from an AWS profile only, which config cannot see: ask the provider.
        regional_certificate = account.apply(lambda where: certificate_in_region(certificate, "REGIONAL", where.region))
        domain = aws.apigateway.DomainName(
            f"{name}-domain",
            domain_name=settings.domain_name,
            endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(types=settings.endpoint_type),
            regional_certificate_arn=regional_certificate if regional else None,
            certificate_arn=None if regional else settings.certificate_arn,
            security_policy="TLS_1_2",
            opts=child,
        )
        aws.apigateway.BasePathMapping(
            f"{name}-base-path",
            rest_api=api.id,
            stage_name=self.stage.stage_name,
            domain_name=domain.domain_name,
            opts=child,
        )
        return domain.regional_domain_name if regional else domain.cloudfront_domain_name
