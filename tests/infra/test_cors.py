"""corsAllowOrigins: a list the app and API Gateway's own answers agree on; a production stack never allows `*`."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_settings
from tests.infra.conftest import RUNTIME_ARN
from tests.infra.test_config import values

APP = "https://app.example.com"
ADMIN = "https://admin.example.com"
FUNCTION = "aws:lambda/function:Function"
RESPONSE = "aws:apigateway/response:Response"


def gateway_headers(run) -> dict[str, dict]:
    return {r.inputs["responseType"]: r.inputs.get("responseParameters") for r in run.of_type(RESPONSE)}


@pytest.mark.parametrize("stack", ["prod", "prod-eu"])
def test_a_production_stack_refuses_star_naming_the_key_and_the_fix(stack):
    with pytest.raises(ConfigError) as refused:
        parse_settings(values("prod", agentRuntimeArn=RUNTIME_ARN, corsAllowOrigins=["*"]), stack=stack)
    message = str(refused.value)
    assert message.startswith(f"streamgate:corsAllowOrigins=['*'] is not allowed in stack {stack}: ")
    assert "pulumi config set --path 'corsAllowOrigins[0]'" in message


def test_prods_stack_file_allows_no_browser_origin_until_its_owner_names_one(program):
    run = program("prod")
    assert run.one(FUNCTION).plain["environment"]["variables"]["CORS_ALLOW_ORIGINS"] == "none"
    assert gateway_headers(run) == {}
    named = program("prod", corsAllowOrigins=[APP])
    assert named.one(FUNCTION).plain["environment"]["variables"]["CORS_ALLOW_ORIGINS"] == APP


def test_one_origin_is_a_static_header_on_api_gateways_own_answers(program):
    run = program("dev", corsAllowOrigins=[APP])
    expected = {"gatewayresponse.header.Access-Control-Allow-Origin": f"'{APP}'"}
    assert gateway_headers(run) == {"DEFAULT_4XX": expected, "DEFAULT_5XX": expected}


def test_several_origins_reach_the_app_and_api_gateway_echoes_the_request_origin(program):
    run = program("dev", corsAllowOrigins=[APP, ADMIN])
    assert run.one(FUNCTION).plain["environment"]["variables"]["CORS_ALLOW_ORIGINS"] == f"{APP},{ADMIN}"
    echoed = {
        "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
        "gatewayresponse.header.Vary": "'Origin'",
    }
    assert gateway_headers(run) == {"DEFAULT_4XX": echoed, "DEFAULT_5XX": echoed}


def test_the_origins_the_program_writes_are_the_ones_the_app_starts_with(program):
    from handler.settings import Settings

    for origins, expected in (([APP, ADMIN], (APP, ADMIN)), ([], ()), (["*"], ("*",))):
        env = program("dev", corsAllowOrigins=origins).one(FUNCTION).plain["environment"]["variables"]
        assert Settings.from_env(env).cors_allow_origins == expected


@pytest.mark.parametrize(
    ("origins", "why"),
    [
        (["*", APP], "* already allows every origin"),
        ([f"{APP}/"], "is not allowed: expected * or an origin like https://app.example.com (no path)"),
        ([APP, APP], "without repeats"),
    ],
)
def test_a_bad_origin_list_fails_naming_the_key(origins, why):
    with pytest.raises(ConfigError, match=r"^streamgate:corsAllowOrigins=") as refused:
        parse_settings(values(corsAllowOrigins=origins), stack="dev")
    assert why in str(refused.value)
