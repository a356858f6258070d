"""Who may call the API: the authorizer the stack chose, as API Gateway method settings.

`none` leaves methods open (API keys are a separate switch), `iam` asks for SigV4 (AWS_IAM), `cognito`
validates user-pool tokens (COGNITO_USER_POOLS), `lambda` asks your function (a REQUEST authorizer on the
Authorization header). Preflight (OPTIONS) is never authorized: browsers send no credentials on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from handler.caller import PRINCIPALS
from infra.config import Settings

# Method.authorization for each authorizer.
METHOD_AUTHORIZATION = {"none": "NONE", "cognito": "COGNITO_USER_POOLS", "iam": "AWS_IAM", "lambda": "CUSTOM"}
TOKEN_SOURCE = "method.request.header.Authorization"
# The Lambda API version path API Gateway calls an authorizer function through (a plain, buffered invoke).
AUTHORIZER_INVOCATION_PATH = "2015-03-31/functions/{function_arn}/invocations"


def principal_expression(settings: Settings) -> str | None:
    """The parameter-mapping source of the caller's principal (`context.authorizer.claims.sub`, …)."""
    path = PRINCIPALS.get(settings.authorizer)
    return f"context.{path}" if path else None


def authorizer_uri(function_arn: str) -> str:
    # arn:<partition>:lambda:<region>:<account>:function:<name>[:qualifier]; the URI names the function's region.
    _, partition, _, region = function_arn.split(":", 4)[:4]
    path = AUTHORIZER_INVOCATION_PATH.format(function_arn=function_arn)
    return f"arn:{partition}:apigateway:{region}:lambda:path/{path}"


@dataclass(frozen=True)
class MethodAuth:
    """What every protected method gets; `open_args` is for preflight and public routes."""

    authorization: str
    authorizer_id: pulumi.Output[str] | None = None
    scopes: tuple[str, ...] = ()

    def method_args(self) -> dict[str, pulumi.Input]:
        args: dict[str, pulumi.Input] = {"authorization": self.authorization}
        if self.authorizer_id is not None:
            args["authorizer_id"] = self.authorizer_id
        if self.scopes:
            args["authorization_scopes"] = list(self.scopes)
        return args

    @staticmethod
    def open_args() -> dict[str, pulumi.Input]:
        return {"authorization": "NONE"}


def method_auth(
    name: str, settings: Settings, api: aws.apigateway.RestApi, child: pulumi.ResourceOptions
) -> MethodAuth:
    """Create the authorizer the stack asks for (none for `none` and `iam`) and say how methods use it."""
    kind = settings.authorizer
    if kind == "cognito":
        authorizer = aws.apigateway.Authorizer(
            f"{name}-cognito",
            rest_api=api.id,
            type="COGNITO_USER_POOLS",
            provider_arns=list(settings.cognito_user_pool_arns),
            identity_source=TOKEN_SOURCE,
            opts=child,
        )
        # Without scopes API Gateway accepts only ID tokens; with them, only access tokens carrying one.
        return MethodAuth(METHOD_AUTHORIZATION[kind], authorizer.id, settings.authorization_scopes)
    if kind == "lambda":
        function_arn = settings.authorizer_function_arn
        assert function_arn is not None
        authorizer = aws.apigateway.Authorizer(
            f"{name}-lambda",
            rest_api=api.id,
            type="REQUEST",
            authorizer_uri=authorizer_uri(function_arn),
            # Also the cache key: a missing header is answered 401 without calling the function.
            identity_source=TOKEN_SOURCE,
            authorizer_result_ttl_in_seconds=settings.authorizer_result_ttl,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-authorizer-invoke",
            function=function_arn,
            action="lambda:InvokeFunction",
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/authorizers/", authorizer.id),
            opts=child,
        )
        return MethodAuth(METHOD_AUTHORIZATION[kind], authorizer.id)
    return MethodAuth(METHOD_AUTHORIZATION[kind])
