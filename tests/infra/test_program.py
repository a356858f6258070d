"""What `__main__.py` registers, for both stack files in both integration modes (mocked AWS, no cloud)."""

from __future__ import annotations

import json
import re

import pytest

from infra.offline import ACCOUNT_ID, OfflineRun, Registered, is_secret
from tests.infra.conftest import RUNTIME_ARN

STACKS = ("dev", "prod")
MODES = ("function_url", "aws_proxy")
REGION = "us-east-1"

FUNCTION = "aws:lambda/function:Function"
INTEGRATION = "aws:apigateway/integration:Integration"
METHOD = "aws:apigateway/method:Method"
RESOURCE = "aws:apigateway/resource:Resource"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
IMAGE = "docker-build:index:Image"
DIGEST_URI = re.compile(rf"^{ACCOUNT_ID}\.dkr\.ecr\.{REGION}\.amazonaws\.com/[a-z0-9-]+@sha256:[0-9a-f]{{64}}$")


@pytest.fixture(params=[(stack, mode) for stack in STACKS for mode in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request, program) -> OfflineRun:
    stack, mode = request.param
    return program(stack, integration=mode)


def mode_of(run: OfflineRun) -> str:
    return run.outputs["integration"]


def permissions(run: OfflineRun) -> dict[str, dict]:
    return {p.name: p.plain for p in run.of_type(PERMISSION)}


# Every route the API passes to the app, as (path, verb); dev turns webUi on, which adds GET / (the page).
APP_ROUTES = {
    ("invoke", "POST"),
    ("invoke", "OPTIONS"),
    ("v1/chat/completions", "POST"),
    ("v1/chat/completions", "OPTIONS"),
    ("v1/models", "GET"),
    ("v1/models", "OPTIONS"),
}


def expected_routes(run: OfflineRun) -> set[tuple[str, str]]:
    return APP_ROUTES | ({("", "GET")} if run.stack == "dev" else set())


def path_of(run: OfflineRun, resource_id: str) -> str:
    """The API path of a resource id (mock ids are the resource's name plus a suffix); the root is ""."""
    if resource_id == run.one("aws:apigateway/restApi:RestApi").state["rootResourceId"]:
        return ""
    (resource,) = [r for r in run.of_type(RESOURCE) if resource_id.rsplit("-", 1)[0] == r.name]
    parent = path_of(run, resource.inputs["parentId"])
    return f"{parent}/{resource.inputs['pathPart']}".lstrip("/")


def by_route(run: OfflineRun, type_: str) -> dict[tuple[str, str], Registered]:
    """Methods or integrations keyed by (path, verb)."""
    return {(path_of(run, r.plain["resourceId"]), r.inputs["httpMethod"]): r for r in run.of_type(type_)}


# --- the integration, both modes -------------------------------------------------------------------------


def test_every_route_uses_the_configured_integration_streaming_with_the_function_timeout(run):
    timeout_ms = {"dev": 300_000, "prod": 900_000}[run.stack]
    integrations = {route: integration.plain for route, integration in by_route(run, INTEGRATION).items()}
    # /invoke, OpenAI's /v1/chat/completions and /v1/models, and in dev the page: one integration each.
    assert set(integrations) == expected_routes(run)
    for integration in integrations.values():
        assert integration["type"] == {"function_url": "HTTP_PROXY", "aws_proxy": "AWS_PROXY"}[mode_of(run)]
        assert integration["responseTransferMode"] == "STREAM"
        assert integration["timeoutMilliseconds"] == timeout_ms
    paths = {path_of(run, r.plain["resourceId"]) for r in run.of_type(METHOD)}
    assert paths == {path for path, _ in expected_routes(run)}


def test_web_ui_routes_get_on_the_root_to_the_app_without_an_api_key(program):
    for stack, mode in [(stack, mode) for stack in STACKS for mode in MODES]:
        run = program(stack, integration=mode, webUi=True, apiKeyRequired=True)
        api = run.one("aws:apigateway/restApi:RestApi")
        methods = {route: method.plain for route, method in by_route(run, METHOD).items()}
        page = by_route(run, INTEGRATION)[("", "GET")].plain
        assert methods[("", "GET")]["resourceId"] == api.state["rootResourceId"] == page["resourceId"]
        # A browser opening a page sends no key; the page sends one with each request it makes.
        assert methods[("", "GET")]["apiKeyRequired"] is False
        assert methods[("invoke", "POST")]["apiKeyRequired"] is True
        if mode == "function_url":
            assert page["uri"] == run.outputs["functionUrl"]
            assert "integration.request.header.X-Origin-Verify" in page["requestParameters"]
        assert run.one(FUNCTION).plain["environment"]["variables"]["WEB_UI"] == "true"
        assert run.outputs["pageUrl"] == run.one("aws:apigateway/stage:Stage").state["invokeUrl"].rstrip("/") + "/"
    off = program("prod", integration="aws_proxy")
    assert "pageUrl" not in off.outputs
    assert ("", "GET") not in by_route(off, METHOD)
    assert off.one(FUNCTION).plain["environment"]["variables"]["WEB_UI"] == "false"


def test_web_ui_changes_the_deployment_trigger(program):
    def trigger(run: OfflineRun) -> str:
        return run.one("aws:apigateway/deployment:Deployment").plain["triggers"]["redeployment"]

    assert trigger(program("prod", webUi=True)) != trigger(program("prod"))


def test_aws_proxy_posts_to_the_lambda_streaming_invocation_path_of_this_function(program):
    for stack in STACKS:
        run = program(stack, integration="aws_proxy")
        function_arn = run.outputs["functionArn"]
        for integration in run.of_type(INTEGRATION):
            assert integration.inputs["integrationHttpMethod"] == "POST"
            assert integration.inputs["uri"] == (
                f"arn:aws:apigateway:{REGION}:lambda:path/2021-11-15/functions/{function_arn}"
                "/response-streaming-invocations"
            )
            assert "requestParameters" not in integration.inputs


def test_function_url_mode_proxies_to_the_url_plus_invoke_and_adds_the_secret_header(program):
    for stack in STACKS:
        run = program(stack, integration="function_url")
        url = run.outputs["functionUrl"]
        secret = run.one(FUNCTION).plain["environment"]["variables"]["ORIGIN_VERIFY_SECRET"]
        for (path, _), integration in by_route(run, INTEGRATION).items():
            assert integration.inputs["uri"] == url + path
            assert integration.inputs["integrationHttpMethod"] == integration.inputs["httpMethod"]
            assert is_secret(integration.inputs["requestParameters"])
            assert integration.plain["requestParameters"] == {
                "integration.request.header.X-Origin-Verify": f"'{secret}'"
            }


def test_buffered_transfer_mode_reaches_every_integration_with_its_timeout(program):
    run = program("dev", responseTransferMode="BUFFERED", integrationTimeoutMs=29_000)
    assert {i.inputs["responseTransferMode"] for i in run.of_type(INTEGRATION)} == {"BUFFERED"}
    assert {i.inputs["timeoutMilliseconds"] for i in run.of_type(INTEGRATION)} == {29_000}
    assert any("BUFFERED" in warning for warning in run.warnings)


# --- the image and the function --------------------------------------------------------------------------


def test_the_repository_scans_on_push_keeps_the_last_ten_images_and_is_force_deleted_only_in_dev(run):
    repository = run.one("aws:ecr/repository:Repository").inputs
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["forceDelete"] is (run.stack == "dev")
    rule = json.loads(run.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])["rules"][0]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}
    assert rule["action"] == {"type": "expire"}


def test_the_function_has_the_stack_memory_timeout_and_its_own_log_group(run):
    expected = {"dev": (512, 300, 7), "prod": (1024, 900, 90)}[run.stack]
    function = run.one(FUNCTION).inputs
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "handler-logs").inputs
    assert (function["memorySize"], function["timeout"], log_group["retentionInDays"]) == expected
    assert function["loggingConfig"]["logGroup"] == log_group["name"] == run.outputs["functionLogGroup"]
    assert function["tracingConfig"] == {"mode": "Active" if run.stack == "prod" else "PassThrough"}


def test_the_app_environment_matches_the_backend_and_streams_through_the_adapter(run):
    env = run.one(FUNCTION).plain["environment"]["variables"]
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    # prod names no browser origin until its owner does (never *).
    assert env["CORS_ALLOW_ORIGINS"] == {"dev": "*", "prod": "none"}[run.stack]
    assert env["HEARTBEAT_SECONDS"] == "15"
    assert env["OPEN_GRACE_SECONDS"] == "2"
    if run.stack == "prod":
        assert env["BACKEND"] == "agentcore"
        assert env["AGENT_RUNTIME_ARN"] == RUNTIME_ARN
    else:
        assert env["BACKEND"] == "demo"
        assert "AGENT_RUNTIME_ARN" not in env
    assert "MODEL_ID" not in env


def test_the_environment_the_program_sets_is_one_the_app_starts_with(run):
    """The app validates its environment at start-up; a value the program writes must pass that check."""
    from handler.settings import Settings

    env = run.one(FUNCTION).plain["environment"]["variables"]
    settings = Settings.from_env({**env, "AWS_REGION": "us-east-1"})  # Lambda sets AWS_REGION itself
    assert settings.backend == env["BACKEND"]
    assert settings.heartbeat_seconds == float(env["HEARTBEAT_SECONDS"])
    assert settings.open_grace_seconds == float(env["OPEN_GRACE_SECONDS"])
    assert settings.max_answer_bytes == int(env["MAX_ANSWER_BYTES"]) == 8 * 2**20
    assert settings.cors_allow_origins == {"dev": ("*",), "prod": ()}[run.stack]
    assert (settings.origin_verify_secret is not None) == (mode_of(run) == "function_url")
    if settings.origin_verify_secret:
        assert settings.origin_verify_header == env["ORIGIN_VERIFY_HEADER"].lower()


def test_the_bedrock_backend_gets_its_model_id(program):
    env = program("dev", backend="bedrock", modelId="anthropic.claude-3-haiku-20240307-v1:0")
    assert env.one(FUNCTION).plain["environment"]["variables"]["MODEL_ID"] == "anthropic.claude-3-haiku-20240307-v1:0"


# --- function URL, origin secret and permissions --------------------------------------------------------


def test_function_url_mode_has_a_public_streaming_url_guarded_by_a_secret_header(program):
    for stack in STACKS:
        run = program(stack, integration="function_url")
        url = run.one(FUNCTION_URL).inputs
        assert url["invokeMode"] == "RESPONSE_STREAM"
        assert url["authorizationType"] == "NONE"
        assert re.match(rf"^https://[a-z0-9]+\.lambda-url\.{REGION}\.on\.aws/$", run.outputs["functionUrl"])
        passwords = {p.name: p for p in run.of_type("random:index/randomPassword:RandomPassword")}
        assert set(passwords) == {"handler-origin-secret", "handler-origin-secret-b"}  # two rotation slots
        assert all(p.inputs["length"] >= 32 for p in passwords.values())
        env = run.one(FUNCTION)
        assert is_secret(env.inputs["environment"])
        variables = env.plain["environment"]["variables"]
        assert variables["ORIGIN_VERIFY_HEADER"] == "X-Origin-Verify"
        assert variables["ORIGIN_VERIFY_SECRET"] == passwords["handler-origin-secret"].state["result"]
        assert variables["ORIGIN_VERIFY_SECRET_PREVIOUS"] == passwords["handler-origin-secret-b"].state["result"]


def test_function_url_mode_grants_both_permissions_a_public_url_needs_since_october_2025(program):
    for stack in STACKS:
        run = program(stack, integration="function_url")
        function_name = run.outputs["functionName"]
        assert permissions(run) == {
            "handler-url-public": {
                "function": function_name,
                "action": "lambda:InvokeFunctionUrl",
                "principal": "*",
                "functionUrlAuthType": "NONE",
            },
            "handler-url-invoke": {
                "function": function_name,
                "action": "lambda:InvokeFunction",
                "principal": "*",
                "invokedViaFunctionUrl": True,
            },
        }


def test_aws_proxy_mode_has_no_function_url_no_secret_and_lets_only_this_api_invoke(program):
    for stack in STACKS:
        run = program(stack, integration="aws_proxy")
        assert not run.of_type(FUNCTION_URL)
        assert not run.of_type("random:index/randomPassword:RandomPassword")
        assert "functionUrl" not in run.outputs
        env = run.one(FUNCTION).plain["environment"]["variables"]
        assert "ORIGIN_VERIFY_SECRET" not in env
        execution_arn = run.one("aws:apigateway/restApi:RestApi").state["executionArn"]
        # Each route's own path: /invoke, OpenAI's two, and with webUi (dev) the root, whose path is empty.
        paths = {
            "api-invoke": "invoke",
            "api-chat-completions": "v1/chat/completions",
            "api-models": "v1/models",
            **({"api-page": ""} if stack == "dev" else {}),
        }
        assert permissions(run) == {
            name: {
                "function": run.outputs["functionName"],
                "action": "lambda:InvokeFunction",
                "principal": "apigateway.amazonaws.com",
                "sourceArn": f"{execution_arn}/*/*/{path}",
            }
            for name, path in paths.items()
        }


# --- IAM -------------------------------------------------------------------------------------------------


def backend_statements(run: OfflineRun) -> list[dict]:
    policies = run.of_type("aws:iam/rolePolicy:RolePolicy")
    return [s for p in policies for s in json.loads(p.inputs["policy"])["Statement"]]


def test_the_role_is_for_lambda_with_basic_execution_and_xray_only_when_tracing(run):
    trust = json.loads(run.one("aws:iam/role:Role").inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    attached = {a.inputs["policyArn"] for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    xray = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
    assert attached == ({basic, xray} if run.stack == "prod" else {basic})


def test_agentcore_may_invoke_only_the_configured_runtime_and_its_endpoints(program):
    run = program("prod", integration="aws_proxy")
    assert backend_statements(run) == [
        {
            "Effect": "Allow",
            "Action": ["bedrock-agentcore:InvokeAgentRuntime", "bedrock-agentcore:StopRuntimeSession"],
            "Resource": [RUNTIME_ARN, f"{RUNTIME_ARN}/runtime-endpoint/*"],
        }
    ]


@pytest.mark.parametrize(
    ("model_id", "resources"),
    [
        (
            "anthropic.claude-3-haiku-20240307-v1:0",
            [f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"],
        ),
        (
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            [
                f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0",
            ],
        ),
        (
            f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/eu.amazon.nova-pro-v1:0",
            [
                f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:inference-profile/eu.amazon.nova-pro-v1:0",
                "arn:aws:bedrock:*::foundation-model/amazon.nova-pro-v1:0",
            ],
        ),
    ],
    ids=["foundation-model", "inference-profile-id", "inference-profile-arn"],
)
def test_bedrock_may_stream_only_from_the_configured_model_and_what_its_profile_routes_to(program, model_id, resources):
    run = program("dev", backend="bedrock", modelId=model_id)
    assert backend_statements(run) == [
        {"Effect": "Allow", "Action": "bedrock:InvokeModelWithResponseStream", "Resource": resources}
    ]


def test_the_demo_backend_gets_no_ai_permissions_and_nothing_is_ever_granted_on_star(run):
    statements = backend_statements(run)
    if run.stack == "dev":
        assert statements == []
    for statement in statements:
        assert statement["Resource"] != "*"
        assert "*" not in statement["Resource"]
        assert "*" not in statement["Action"]


# --- stage, deployment, outputs --------------------------------------------------------------------------


def test_the_stage_throttles_collects_metrics_and_never_caches(run):
    settings = run.one("aws:apigateway/methodSettings:MethodSettings").inputs
    rate, burst = {"dev": (10, 20), "prod": (50, 100)}[run.stack]
    assert settings["methodPath"] == "*/*"
    assert settings["settings"] == {
        "metricsEnabled": True,
        "throttlingRateLimit": rate,
        "throttlingBurstLimit": burst,
        "cachingEnabled": False,
    }
    stage = run.one("aws:apigateway/stage:Stage").inputs
    assert stage["stageName"] == settings["stageName"] == "v1"
    assert stage["xrayTracingEnabled"] is (run.stack == "prod")


def test_the_api_is_regional_by_default(run):
    assert run.one("aws:apigateway/restApi:RestApi").inputs["endpointConfiguration"] == {"types": "REGIONAL"}


def test_gateway_errors_carry_the_cors_origin_so_browsers_can_read_them(run):
    responses = {r.inputs["responseType"]: r.inputs for r in run.of_type("aws:apigateway/response:Response")}
    if run.stack == "prod":
        assert responses == {}  # no browser origin to tell
        return
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        assert response["responseParameters"] == {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}


def redeployment(run: OfflineRun) -> str:
    return run.one("aws:apigateway/deployment:Deployment").plain["triggers"]["redeployment"]


def test_the_deployment_trigger_changes_with_anything_that_shapes_the_api(program):
    baseline = redeployment(program("dev"))
    assert re.match(r"^[0-9a-f]{64}$", baseline)
    assert redeployment(program("dev")) == baseline
    assert redeployment(program("dev", integration="aws_proxy")) != baseline
    assert redeployment(program("dev", responseTransferMode="BUFFERED", integrationTimeoutMs=29_000)) != baseline
    assert redeployment(program("dev", integrationTimeoutMs=120_000)) != baseline
    assert redeployment(program("dev", apiKeyRequired=True)) != baseline
    assert redeployment(program("dev", corsAllowOrigins=["https://app.example.com"])) != baseline


def test_outputs_name_every_endpoint_and_a_ready_curl(run):
    stage = run.one("aws:apigateway/stage:Stage").state
    outputs = run.outputs
    assert outputs["apiInvokeUrl"] == stage["invokeUrl"] + "/invoke"
    assert outputs["integration"] == mode_of(run)
    assert outputs["functionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{outputs['functionName']}"
    assert DIGEST_URI.match(outputs["imageUri"])
    assert ("functionUrl" in outputs) is (mode_of(run) == "function_url")
    assert outputs["curl"].startswith(f"curl -N -X POST {outputs['apiInvokeUrl']} -H 'Content-Type: application/json'")
    assert outputs["curl"].endswith("""-d '{"prompt":"Tell me a story"}'""")
    assert not run.secret_outputs


# --- optional extras -------------------------------------------------------------------------------------


def test_api_keys_guard_post_but_not_the_preflight_and_come_with_a_usage_plan(program):
    run = program("prod", integration="aws_proxy")  # prod requires keys
    methods = {m.inputs["httpMethod"]: m.inputs for m in run.of_type("aws:apigateway/method:Method")}
    assert methods["POST"]["apiKeyRequired"] is True
    assert methods["OPTIONS"]["apiKeyRequired"] is False
    run.one("aws:apigateway/apiKey:ApiKey")
    plan = run.one("aws:apigateway/usagePlan:UsagePlan").inputs
    api_id = run.one("aws:apigateway/stage:Stage").inputs["restApi"]
    assert plan["apiStages"] == [{"apiId": api_id, "stage": "v1"}]
    assert plan["throttleSettings"] == {"rateLimit": 50, "burstLimit": 100}
    link = run.one("aws:apigateway/usagePlanKey:UsagePlanKey").inputs
    assert link["keyType"] == "API_KEY"
    assert link["keyId"] == run.outputs["apiKeyId"]
    assert f"--api-key {run.outputs['apiKeyId']} --include-value" in run.outputs["curl"]


def test_without_api_keys_there_is_no_key_or_usage_plan(program):
    run = program("dev")
    assert not run.of_type("aws:apigateway/apiKey:ApiKey")
    assert not run.of_type("aws:apigateway/usagePlan:UsagePlan")
    assert {m.inputs["apiKeyRequired"] for m in run.of_type("aws:apigateway/method:Method")} == {False}


def test_access_logs_go_to_their_own_log_group_with_the_stack_retention(program):
    run = program("dev", accessLogs=True)
    group = run.one("aws:cloudwatch/logGroup:LogGroup", "api-access-logs")
    assert group.inputs["retentionInDays"] == 7
    settings = run.one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]
    assert settings["destinationArn"] == group.state["arn"]
    assert json.loads(settings["format"])["requestId"] == "$context.requestId"
    assert run.outputs["accessLogGroup"] == group.inputs["name"]
    assert "accessLogSettings" not in program("dev").one("aws:apigateway/stage:Stage").inputs


# $context variables API Gateway documents for REST access logs (developer guide, "Variables for access logging
# for API Gateway"; the integration.* streaming timings from "Troubleshoot issues with response streaming").
DOCUMENTED_CONTEXT = {
    "$context.requestId", "$context.identity.sourceIp", "$context.requestTime", "$context.httpMethod",
    "$context.resourcePath", "$context.status", "$context.responseLength", "$context.responseLatency",
    "$context.integration.latency", "$context.integration.status", "$context.integration.error",
    "$context.error.responseType", "$context.error.message", "$context.waf.status",
    "$context.integration.responseTransferMode", "$context.integration.timeToAllHeaders",
    "$context.integration.timeToFirstContent", "$context.authorizer.principalId",
    "$context.authorizer.claims.sub", "$context.identity.userArn", "$context.identity.apiKeyId",
}  # fmt: skip


def test_the_access_log_explains_a_stream_and_its_caller_with_documented_variables_only(program):
    fields = json.loads(
        program("dev", accessLogs=True).one("aws:apigateway/stage:Stage").inputs["accessLogSettings"]["format"]
    )
    assert set(fields.values()) <= DOCUMENTED_CONTEXT
    assert fields["transferMode"] == "$context.integration.responseTransferMode"
    assert fields["timeToAllHeaders"] == "$context.integration.timeToAllHeaders"
    assert fields["timeToFirstContent"] == "$context.integration.timeToFirstContent"
    # Lambda authorizers' principal, Cognito's subject, the IAM caller, the API key: never a token.
    assert {fields[key] for key in ("principalId", "cognitoSub", "callerArn", "apiKeyId")} == {
        "$context.authorizer.principalId",
        "$context.authorizer.claims.sub",
        "$context.identity.userArn",
        "$context.identity.apiKeyId",
    }
    assert not any("apiKey}" in value or value == "$context.identity.apiKey" for value in fields.values())


def test_a_waf_web_acl_is_associated_with_the_stage(program):
    acl = f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:regional/webacl/streamgate/0f0e0d0c-1111-4222-8333-444455556666"
    run = program("dev", wafWebAclArn=acl)
    association = run.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs
    assert association == {"resourceArn": run.one("aws:apigateway/stage:Stage").state["arn"], "webAclArn": acl}
    assert not program("dev").of_type("aws:wafv2/webAclAssociation:WebAclAssociation")


@pytest.mark.parametrize("endpoint_type", ["REGIONAL", "EDGE"])
def test_a_custom_domain_maps_the_stage_at_its_root_with_the_right_certificate_slot(program, endpoint_type):
    cert = f"arn:aws:acm:us-east-1:{ACCOUNT_ID}:certificate/0f0e0d0c-0000-4000-8000-000000000000"
    run = program("dev", domainName="api.example.com", certificateArn=cert, endpointType=endpoint_type)
    domain = run.one("aws:apigateway/domainName:DomainName")
    slot = "regionalCertificateArn" if endpoint_type == "REGIONAL" else "certificateArn"
    assert domain.inputs[slot] == cert
    assert domain.inputs["endpointConfiguration"] == {"types": endpoint_type}
    assert domain.inputs["securityPolicy"] == "TLS_1_2"
    mapping = run.one("aws:apigateway/basePathMapping:BasePathMapping").inputs
    assert mapping["domainName"] == "api.example.com"
    assert mapping["stageName"] == "v1"
    assert "basePath" not in mapping
    target = "regionalDomainName" if endpoint_type == "REGIONAL" else "cloudfrontDomainName"
    assert run.outputs["customDomainTarget"] == domain.state[target]


def test_an_edge_api_is_registered_as_edge_and_warns_about_its_idle_timeout(program):
    run = program("dev", endpointType="EDGE")
    assert run.one("aws:apigateway/restApi:RestApi").inputs["endpointConfiguration"] == {"types": "EDGE"}
    assert any("EDGE" in warning and "30 s" in warning for warning in run.warnings)


def test_every_cloud_resource_belongs_to_one_of_four_components(run):
    components = {(r.type, r.name) for r in run.resources if r.type.startswith("streamgate:")}
    assert components == {
        ("streamgate:index:HandlerImage", "handler"),
        ("streamgate:index:StreamingFunction", "handler"),
        ("streamgate:index:StreamingApi", "api"),
        ("streamgate:index:Monitoring", "monitoring"),
    }
    owners = {r.type: r.parent_type for r in run.resources}
    assert owners[INTEGRATION] == owners["aws:apigateway/deployment:Deployment"] == "streamgate:index:StreamingApi"
    assert owners[FUNCTION] == "streamgate:index:StreamingFunction"
    assert owners[IMAGE] == owners["aws:ecr/repository:Repository"] == "streamgate:index:HandlerImage"
    monitoring = {owners["aws:cloudwatch/metricAlarm:MetricAlarm"], owners["aws:cloudwatch/dashboard:Dashboard"]}
    assert monitoring == {"streamgate:index:Monitoring"}
    assert all(r.parent_type for r in run.resources if not r.type.startswith("streamgate:"))


def test_the_offline_run_keeps_what_the_engine_knows_urns_parents_and_property_dependencies(program):
    # Stack policies follow these links (which integration reaches which function URL), so they must be real.
    run = program("dev", integration="function_url")
    by_name = {r.name: r for r in run.resources}
    post = run.one(INTEGRATION, "api-post-integration")
    assert post.urn.endswith(
        "::streamgate:index:StreamingApi$aws:apigateway/integration:Integration::api-post-integration"
    )
    assert post.parent_urn == run.one("streamgate:index:StreamingApi").urn
    assert post.property_dependencies["uri"] == [run.one(FUNCTION_URL).urn]
    assert post.property_dependencies["requestParameters"] == [by_name["handler-origin-secret"].urn]
    assert run.one("aws:apigateway/stage:Stage").property_dependencies["restApi"] == [
        run.one("aws:apigateway/restApi:RestApi").urn
    ]


# --- OpenAI-compatible routes and the model settings -----------------------------------------------------


def test_openai_routes_take_the_same_keys_as_invoke_in_both_modes_and_no_key_on_preflight(program):
    for mode in MODES:
        run = program("prod", integration=mode)  # prod requires API keys
        methods = {route: method.inputs["apiKeyRequired"] for route, method in by_route(run, METHOD).items()}
        assert methods == {route: route[1] != "OPTIONS" for route in APP_ROUTES}
        authorizations = {method.inputs["authorization"] for method in run.of_type(METHOD)}
        assert len(authorizations) == 1, "every route has /invoke's authorization"


def test_the_model_settings_reach_the_function_and_the_app_accepts_them(program):
    from handler.settings import Settings

    run = program(
        "dev",
        backend="bedrock",
        modelId="us.anthropic.claude-sonnet-4-20250514-v1:0",
        systemPrompt="You answer in French.",
        maxTokens=2000,
        temperature="0.4",
        topP="0.95",
        guardrailIdentifier="gr0abc123def",
        guardrailVersion="7",
        guardrailStreamProcessingMode="async",
        additionalModelRequestFields='{ "thinking": {"type": "enabled", "budget_tokens": 1024} }',
    )
    env = run.one(FUNCTION).plain["environment"]["variables"]
    assert {name: env[name] for name in env if name in MODEL_VARIABLES} == {
        "SYSTEM_PROMPT": "You answer in French.",
        "MAX_TOKENS": "2000",
        "TEMPERATURE": "0.4",
        "TOP_P": "0.95",
        "GUARDRAIL_IDENTIFIER": "gr0abc123def",
        "GUARDRAIL_VERSION": "7",
        "GUARDRAIL_STREAM_MODE": "async",
        "MODEL_REQUEST_FIELDS": '{"thinking":{"type":"enabled","budget_tokens":1024}}',
    }
    settings = Settings.from_env({**env, "AWS_REGION": REGION})
    assert (settings.max_tokens, settings.temperature, settings.guardrail_stream_mode) == (2000, 0.4, "async")


MODEL_VARIABLES = {"SYSTEM_PROMPT", "MAX_TOKENS", "TEMPERATURE", "TOP_P", "MODEL_REQUEST_FIELDS"} | {
    "GUARDRAIL_IDENTIFIER",
    "GUARDRAIL_VERSION",
    "GUARDRAIL_STREAM_MODE",
}


def test_a_bedrock_stack_caps_output_tokens_by_default_and_sets_nothing_else(program):
    env = program("dev", backend="bedrock", modelId="amazon.nova-pro-v1:0").one(FUNCTION).plain["environment"]
    assert {name for name in env["variables"] if name in MODEL_VARIABLES} == {"MAX_TOKENS"}
    assert env["variables"]["MAX_TOKENS"] == "4096"


@pytest.mark.parametrize(
    ("identifier", "arn"),
    [
        ("gr0abc123def", f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:guardrail/gr0abc123def"),
        (
            "arn:aws:bedrock:eu-west-1:210987654321:guardrail/shared0rail",
            "arn:aws:bedrock:eu-west-1:210987654321:guardrail/shared0rail",
        ),
    ],
    ids=["id", "arn"],
)
def test_a_guardrail_may_be_applied_on_exactly_its_arn(program, identifier, arn):
    model = "amazon.nova-pro-v1:0"
    run = program("dev", backend="bedrock", modelId=model, guardrailIdentifier=identifier, guardrailVersion="DRAFT")
    assert backend_statements(run) == [
        {
            "Effect": "Allow",
            "Action": "bedrock:InvokeModelWithResponseStream",
            "Resource": [f"arn:aws:bedrock:{REGION}::foundation-model/{model}"],
        },
        {"Effect": "Allow", "Action": "bedrock:ApplyGuardrail", "Resource": [arn]},
    ]
