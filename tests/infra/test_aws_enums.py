"""The literal values the program sends are ones the AWS APIs accept, per botocore's service models.

Mocks accept any string; these checks make a typo like "STREAMING" or "RESPONSE_STREAMING" fail here.
"""

from __future__ import annotations

import botocore.session
import pytest

from infra.config import ARCHITECTURES, ENDPOINT_TYPES, TRANSFER_MODES
from infra.modes import MODES

SESSION = botocore.session.get_session()


def enum(service: str, shape: str) -> set[str]:
    return set(SESSION.get_service_model(service).shape_for(shape).enum)


def test_transfer_modes_are_api_gateway_response_transfer_modes():
    assert set(TRANSFER_MODES) == enum("apigateway", "ResponseTransferMode")


def test_integration_types_of_both_modes_are_api_gateway_integration_types():
    assert {mode.integration_type for mode in MODES.values()} <= enum("apigateway", "IntegrationType")


def test_endpoint_types_are_api_gateway_endpoint_types():
    assert set(ENDPOINT_TYPES) <= enum("apigateway", "EndpointType")


def test_architectures_are_lambda_architectures():
    assert set(ARCHITECTURES) == enum("lambda", "Architecture")


def test_function_url_auth_types_are_lambda_ones():
    auths = {mode.function_url_auth for mode in MODES.values()} - {None}
    assert auths <= enum("lambda", "FunctionUrlAuthType")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_enum_valued_property_the_program_registers_is_accepted_by_aws(program, stack):
    for integration in MODES:
        run = program(stack, integration=integration)
        for resource in run.of_type("aws:apigateway/integration:Integration"):
            assert resource.inputs["responseTransferMode"] in enum("apigateway", "ResponseTransferMode")
            assert resource.inputs["type"] in enum("apigateway", "IntegrationType")
        for resource in run.of_type("aws:lambda/functionUrl:FunctionUrl"):
            assert resource.inputs["invokeMode"] in enum("lambda", "InvokeMode")
            assert resource.inputs["authorizationType"] in enum("lambda", "FunctionUrlAuthType")
        function = run.one("aws:lambda/function:Function")
        assert function.inputs["packageType"] in enum("lambda", "PackageType")
        assert set(function.inputs["architectures"]) <= enum("lambda", "Architecture")
        assert function.inputs["tracingConfig"]["mode"] in enum("lambda", "TracingMode")
        for permission in run.of_type("aws:lambda/permission:Permission"):
            if "functionUrlAuthType" in permission.inputs:
                assert permission.inputs["functionUrlAuthType"] in enum("lambda", "FunctionUrlAuthType")
        api = run.one("aws:apigateway/restApi:RestApi")
        assert api.inputs["endpointConfiguration"]["types"] in enum("apigateway", "EndpointType")


def test_add_permission_accepts_the_function_url_fields_the_program_sets():
    members = SESSION.get_service_model("lambda").operation_model("AddPermission").input_shape.members
    assert {"FunctionUrlAuthType", "InvokedViaFunctionUrl"} <= set(members)


def test_put_integration_accepts_a_response_transfer_mode_and_a_timeout():
    members = SESSION.get_service_model("apigateway").operation_model("PutIntegration").input_shape.members
    assert {"responseTransferMode", "timeoutInMillis"} <= set(members)


def test_authorizer_types_quota_periods_and_method_authorizations_are_api_gateway_ones(program):
    from infra.auth import METHOD_AUTHORIZATION
    from infra.config import QUOTA_PERIODS

    assert set(QUOTA_PERIODS) == enum("apigateway", "QuotaPeriodType")
    # PutMethod's authorizationType is a plain string; its documentation lists the valid values.
    documented = SESSION.get_service_model("apigateway").operation_model("PutMethod").input_shape.members
    valid = documented["authorizationType"].documentation
    assert all(f"<code>{value}</code>" in valid for value in METHOD_AUTHORIZATION.values())
    pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"
    function = "arn:aws:lambda:us-east-1:123456789012:function:token-check"
    for extra in (
        {"authorizer": "cognito", "cognitoUserPoolArns": [pool]},
        {"authorizer": "lambda", "authorizerFunctionArn": function},
    ):
        for authorizer in program("dev", **extra).of_type("aws:apigateway/authorizer:Authorizer"):
            assert authorizer.inputs["type"] in enum("apigateway", "AuthorizerType")
