"""Authorizers chosen by stack config, in both integration modes: what guards each method, and how the caller
reaches the app (mocked AWS, no cloud)."""

from __future__ import annotations

import pytest

from handler.caller import CALLER_HEADER, CallerSource
from handler.settings import Settings as AppSettings
from infra.offline import ACCOUNT_ID, OfflineRun

REGION = "us-east-1"
POOL_A = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{REGION}_AbCdEf123"
POOL_B = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{REGION}_ZyXwVu987"
AUTHORIZER_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:token-check"

METHOD = "aws:apigateway/method:Method"
INTEGRATION = "aws:apigateway/integration:Integration"
AUTHORIZER = "aws:apigateway/authorizer:Authorizer"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"

# Each authorizer's stack settings, and what API Gateway must do with it.
AUTHORIZERS = {
    "none": ({}, "NONE", None),
    "iam": ({}, "AWS_IAM", "context.identity.userArn"),
    "cognito": ({"cognitoUserPoolArns": [POOL_A, POOL_B]}, "COGNITO_USER_POOLS", "context.authorizer.claims.sub"),
    "lambda": ({"authorizerFunctionArn": AUTHORIZER_FN}, "CUSTOM", "context.authorizer.principalId"),
}
MODES = ("function_url", "aws_proxy")


def deploy(program, authorizer: str, mode: str, **extra: object) -> OfflineRun:
    settings, _, _ = AUTHORIZERS[authorizer]
    return program("dev", integration=mode, authorizer=authorizer, **settings, **extra)


def methods(run: OfflineRun) -> dict[str, dict]:
    return {m.inputs["httpMethod"]: m.inputs for m in run.of_type(METHOD)}


@pytest.fixture(params=[(a, m) for a in AUTHORIZERS for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def combination(request, program) -> tuple[str, str, OfflineRun]:
    authorizer, mode = request.param
    return authorizer, mode, deploy(program, authorizer, mode)


def test_post_carries_the_configured_authorization_and_preflight_stays_open(combination):
    authorizer, _, run = combination
    _, authorization, _ = AUTHORIZERS[authorizer]
    by_verb = methods(run)
    assert by_verb["POST"]["authorization"] == authorization
    assert by_verb["OPTIONS"]["authorization"] == "NONE"
    assert "authorizerId" not in by_verb["OPTIONS"]
    assert by_verb["OPTIONS"]["apiKeyRequired"] is False


def test_a_cognito_or_lambda_authorizer_is_the_one_the_post_method_names(combination):
    authorizer, _, run = combination
    created = run.of_type(AUTHORIZER)
    if authorizer in ("none", "iam"):
        assert created == []
        assert "authorizerId" not in methods(run)["POST"]
        return
    (one,) = created
    assert methods(run)["POST"]["authorizerId"] == one.id
    assert one.inputs["identitySource"] == "method.request.header.Authorization"
    assert one.inputs["restApi"] == run.one("aws:apigateway/restApi:RestApi").id


def test_the_cognito_authorizer_trusts_exactly_the_configured_pools(program):
    run = deploy(program, "cognito", "aws_proxy")
    authorizer = run.one(AUTHORIZER).inputs
    assert authorizer["type"] == "COGNITO_USER_POOLS"
    assert authorizer["providerArns"] == [POOL_A, POOL_B]
    # Without scopes API Gateway takes ID tokens; the method names none.
    assert "authorizationScopes" not in methods(run)["POST"]


def test_cognito_scopes_go_on_the_method_so_access_tokens_are_required(program):
    run = deploy(program, "cognito", "function_url", authorizationScopes=["api/stream", "openid"])
    assert methods(run)["POST"]["authorizationScopes"] == ["api/stream", "openid"]
    assert "authorizationScopes" not in methods(run)["OPTIONS"]


def test_the_lambda_authorizer_is_a_cached_request_authorizer_api_gateway_may_invoke(program):
    run = deploy(program, "lambda", "aws_proxy", authorizerResultTtl=60)
    authorizer = run.one(AUTHORIZER)
    assert authorizer.inputs["type"] == "REQUEST"
    assert authorizer.inputs["authorizerUri"] == (
        f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{AUTHORIZER_FN}/invocations"
    )
    assert authorizer.inputs["authorizerResultTtlInSeconds"] == 60
    execution_arn = run.one("aws:apigateway/restApi:RestApi").state["executionArn"]
    grant = run.one(PERMISSION, "api-authorizer-invoke").inputs
    assert grant == {
        "function": AUTHORIZER_FN,
        "action": "lambda:InvokeFunction",
        "principal": "apigateway.amazonaws.com",
        "sourceArn": f"{execution_arn}/authorizers/{authorizer.id}",
    }


def test_api_keys_combine_with_any_authorizer_and_never_guard_preflight(program):
    for authorizer in AUTHORIZERS:
        by_verb = methods(deploy(program, authorizer, "aws_proxy", apiKeyRequired=True))
        assert by_verb["POST"]["apiKeyRequired"] is True
        assert by_verb["OPTIONS"]["apiKeyRequired"] is False


def test_function_url_mode_maps_the_principal_into_the_caller_header_on_post_only(program):
    for authorizer, (_, _, principal) in AUTHORIZERS.items():
        run = deploy(program, authorizer, "function_url")
        integrations = {i.inputs["httpMethod"]: i.plain for i in run.of_type(INTEGRATION)}
        mapped = f"integration.request.header.{CALLER_HEADER}"
        if principal is None:
            assert mapped not in integrations["POST"]["requestParameters"]
        else:
            assert integrations["POST"]["requestParameters"][mapped] == principal
        assert mapped not in integrations["OPTIONS"]["requestParameters"]
        # The origin secret still rides along: the header is only trusted from API Gateway.
        assert "integration.request.header.X-Origin-Verify" in integrations["POST"]["requestParameters"]


def test_aws_proxy_mode_maps_nothing_the_adapter_forwards_the_request_context(program):
    for authorizer in AUTHORIZERS:
        for integration in deploy(program, authorizer, "aws_proxy").of_type(INTEGRATION):
            assert "requestParameters" not in integration.inputs


def test_the_app_is_told_where_to_read_the_caller_and_starts_with_it(combination):
    authorizer, mode, run = combination
    env = run.one(FUNCTION).plain["environment"]["variables"]
    app = AppSettings.from_env({**env, "AWS_REGION": REGION})
    if authorizer == "none":
        assert "AUTHORIZER" not in env
        assert app.caller_source is None
    else:
        via = {"function_url": "header", "aws_proxy": "request_context"}[mode]
        assert (env["AUTHORIZER"], env["CALLER_FROM"]) == (authorizer, via)
        assert app.caller_source == CallerSource(authorizer, via)


def test_the_access_log_names_the_caller_by_its_principal_never_its_token(program):
    import json

    for authorizer, (_, _, principal) in AUTHORIZERS.items():
        run = deploy(program, authorizer, "aws_proxy", accessLogs=True)
        line = json.loads(run.one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]["format"])
        if principal is not None:
            assert f"${principal}" in line.values()
        assert not any("Authorization" in value or "token" in value.lower() for value in line.values())


def test_an_authorizer_change_redeploys_the_api(program):
    def trigger(run: OfflineRun) -> str:
        return run.one("aws:apigateway/deployment:Deployment").inputs["triggers"]["redeployment"]

    triggers = {trigger(deploy(program, authorizer, "aws_proxy")) for authorizer in AUTHORIZERS}
    assert len(triggers) == len(AUTHORIZERS)


def test_a_change_to_the_authorizer_settings_alone_redeploys_the_api(program):
    def trigger(**extra: object) -> str:
        run = deploy(program, "lambda", "aws_proxy", **extra)
        return run.one("aws:apigateway/deployment:Deployment").inputs["triggers"]["redeployment"]

    assert trigger(authorizerResultTtl=60) != trigger(authorizerResultTtl=0)


def test_every_guarded_route_gets_the_authorizer_and_the_page_stays_open(program):
    run = deploy(program, "cognito", "function_url", webUi=True, apiKeyRequired=True)
    root = run.one("aws:apigateway/restApi:RestApi").state["rootResourceId"]
    (page,) = [m.plain for m in run.of_type(METHOD) if m.plain["resourceId"] == root]
    assert (page["authorization"], page["apiKeyRequired"]) == ("NONE", False)
    page_integration = next(i.plain for i in run.of_type(INTEGRATION) if i.plain["resourceId"] == root)
    assert f"integration.request.header.{CALLER_HEADER}" not in page_integration["requestParameters"]
    # /invoke and OpenAI's POST /v1/chat/completions and GET /v1/models: the same authorizer and key.
    guarded = [
        m.plain for m in run.of_type(METHOD) if m.plain["resourceId"] != root and m.plain["httpMethod"] != "OPTIONS"
    ]
    assert len(guarded) == 3
    assert {(m["authorization"], m["apiKeyRequired"]) for m in guarded} == {("COGNITO_USER_POOLS", True)}
