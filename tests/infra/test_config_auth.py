"""Authorizer settings: each authorizer reads only its own keys, and a wrong combination names the key."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_settings
from infra.offline import run_program
from tests.infra.test_config import values

POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
AUTHORIZER_FN = "arn:aws:lambda:us-east-1:123456789012:function:token-check"


def test_no_authorizer_by_default_and_each_authorizer_reads_only_its_own_settings():
    assert parse_settings(values(), stack="dev").authorizer == "none"
    cognito = parse_settings(
        values(authorizer="cognito", cognitoUserPoolArns=[POOL], authorizationScopes=["api/read"]), stack="dev"
    )
    assert (cognito.cognito_user_pool_arns, cognito.authorization_scopes) == ((POOL,), ("api/read",))
    custom = parse_settings(values(authorizer="lambda", authorizerFunctionArn=AUTHORIZER_FN), stack="dev")
    assert (custom.authorizer_function_arn, custom.authorizer_result_ttl) == (AUTHORIZER_FN, 300)
    assert parse_settings(values(authorizer="iam"), stack="dev").authorizer == "iam"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"authorizer": "cognito"}, "streamgate:cognitoUserPoolArns is required when authorizer=cognito; set it with"),
        ({"authorizer": "lambda"}, "streamgate:authorizerFunctionArn is required when authorizer=lambda; set it with"),
        (
            {"authorizer": "iam", "cognitoUserPoolArns": [POOL]},
            "streamgate:cognitoUserPoolArns is set but authorizer=iam; it applies only to authorizer=cognito",
        ),
        (
            {"authorizationScopes": ["openid"]},
            "streamgate:authorizationScopes is set but authorizer=none; it applies only to authorizer=cognito",
        ),
        (
            {"authorizer": "cognito", "cognitoUserPoolArns": [POOL], "authorizerFunctionArn": AUTHORIZER_FN},
            "streamgate:authorizerFunctionArn is set but authorizer=cognito; it applies only to authorizer=lambda",
        ),
        (
            {"authorizer": "jwt"},
            "streamgate:authorizer='jwt' is not allowed: expected one of none, cognito, iam, lambda",
        ),
        (
            {"authorizer": "cognito", "cognitoUserPoolArns": ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/x"]},
            "streamgate:cognitoUserPoolArns='arn:aws:cognito-idp:us-east-1:123456789012:userpool/x' is not allowed",
        ),
        (
            {"authorizer": "cognito", "cognitoUserPoolArns": [POOL, POOL]},
            "without repeats",
        ),
        (
            {"authorizer": "cognito", "cognitoUserPoolArns": '{"pool": 1}'},
            "is not allowed: expected a list, each a Cognito user pool ARN",
        ),
        (
            {"authorizer": "cognito", "cognitoUserPoolArns": [POOL], "authorizationScopes": ["read write"]},
            "streamgate:authorizationScopes='read write' is not allowed: expected an OAuth scope",
        ),
        (
            {"authorizer": "lambda", "authorizerFunctionArn": "arn:aws:iam::123456789012:role/x"},
            "streamgate:authorizerFunctionArn='arn:aws:iam::123456789012:role/x' is not allowed",
        ),
        (
            {"authorizer": "lambda", "authorizerFunctionArn": AUTHORIZER_FN, "authorizerResultTtl": 3601},
            "streamgate:authorizerResultTtl='3601' is not allowed: expected an integer from 0 to 3600",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else None,
)
def test_a_bad_authorizer_combination_fails_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as failure:
        parse_settings(values(**overrides), stack="dev")
    assert message in str(failure.value)
    assert "\n" not in str(failure.value)


def test_a_bad_authorizer_combination_stops_the_program_before_any_resource():
    with pytest.raises(ConfigError, match="cognitoUserPoolArns is required"):
        run_program("dev", {"authorizer": "cognito"})
