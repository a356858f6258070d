"""infra/deploy-policy.json, the deploying identity's policy, allows what the program creates, on its names only."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

import pytest

from infra.offline import ROOT, OfflineRun

POLICY = json.loads((ROOT / "infra" / "deploy-policy.json").read_text())
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f0e0d0c-0000-4000-8000-000000000000"
WAF = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/streamgate/0f0e0d0c-1111-4222-8333-444455556666"
EVERY_OPTION = {
    "accessLogs": True,
    "wafWebAclArn": WAF,
    "domainName": "api.example.com",
    "certificateArn": CERT,
    "endpointType": "EDGE",
    "alarmEmail": "oncall@example.com",
    "authorizer": "lambda",
    "authorizerFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:token-check",
    "reservedConcurrency": 10,
    "apiKeyRequired": True,
    "quotaLimit": 1000,
}

# The create call behind each resource type the program registers (the AWS API the provider calls for it).
CREATED_BY = {
    "aws:ecr/repository:Repository": ["ecr:CreateRepository"],
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ["ecr:PutLifecyclePolicy"],
    "aws:iam/role:Role": ["iam:CreateRole", "iam:PassRole"],
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ["iam:AttachRolePolicy"],
    "aws:iam/rolePolicy:RolePolicy": ["iam:PutRolePolicy"],
    "aws:cloudwatch/logGroup:LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
    "aws:lambda/function:Function": [
        "lambda:CreateFunction",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "lambda:PutFunctionConcurrency",
    ],
    "aws:lambda/functionUrl:FunctionUrl": ["lambda:CreateFunctionUrlConfig"],
    "aws:lambda/permission:Permission": ["lambda:AddPermission"],
    "aws:apigateway/restApi:RestApi": ["apigateway:POST"],
    "aws:apigateway/resource:Resource": ["apigateway:POST"],
    "aws:apigateway/method:Method": ["apigateway:PUT"],
    "aws:apigateway/authorizer:Authorizer": ["apigateway:POST"],
    "aws:apigateway/integration:Integration": ["apigateway:PUT"],
    "aws:apigateway/response:Response": ["apigateway:PUT"],
    "aws:apigateway/deployment:Deployment": ["apigateway:POST"],
    "aws:apigateway/stage:Stage": ["apigateway:POST"],
    "aws:apigateway/methodSettings:MethodSettings": ["apigateway:PATCH"],
    "aws:apigateway/apiKey:ApiKey": ["apigateway:POST"],
    "aws:apigateway/usagePlan:UsagePlan": ["apigateway:POST"],
    "aws:apigateway/usagePlanKey:UsagePlanKey": ["apigateway:POST"],
    "aws:apigateway/domainName:DomainName": ["apigateway:POST", "cloudfront:UpdateDistribution"],
    "aws:apigateway/basePathMapping:BasePathMapping": ["apigateway:POST"],
    "aws:wafv2/webAclAssociation:WebAclAssociation": ["wafv2:AssociateWebACL", "apigateway:SetWebACL"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": ["cloudwatch:PutMetricAlarm"],
    "aws:cloudwatch/dashboard:Dashboard": ["cloudwatch:PutDashboard"],
    "aws:sns/topic:Topic": ["sns:CreateTopic"],
    "aws:sns/topicSubscription:TopicSubscription": ["sns:Subscribe"],
    # The image push: docker logs in with a token, then uploads layers and the manifest.
    "docker-build:index:Image": ["ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:PutImage"],
    "docker:index/image:Image": ["ecr:GetAuthorizationToken", "ecr:InitiateLayerUpload", "ecr:PutImage"],
}
NOT_AWS = ("streamgate:", "random:")


def allows(action: str, resource: str = "*") -> bool:
    for statement in POLICY["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        action_allowed = statement["Effect"] == "Allow" and any(fnmatchcase(action, p) for p in actions)
        if action_allowed and (resource == "*" or any(fnmatchcase(resource, p) for p in resources)):
            return True
    return False


@pytest.fixture(params=["dev", "prod", "dev-every-option", "dev-classic-builder"])
def run(request, program) -> OfflineRun:
    return {
        "dev": lambda: program("dev", integration="aws_proxy"),
        "prod": lambda: program("prod"),
        "dev-every-option": lambda: program("dev", **EVERY_OPTION),
        "dev-classic-builder": lambda: program("dev", imageBuilder="docker"),
    }[request.param]()


def test_the_policy_allows_creating_every_resource_type_the_program_registers(run):
    for type_ in sorted({r.type for r in run.resources if not r.type.startswith(NOT_AWS)}):
        assert type_ in CREATED_BY, f"{type_}: add its create calls here and to infra/deploy-policy.json"
        missing = [action for action in CREATED_BY[type_] if not allows(action)]
        assert missing == [], f"infra/deploy-policy.json does not allow {missing} for {type_}"


def test_the_policy_names_the_programs_own_resources_not_every_one_in_the_account(run):
    repository = run.one("aws:ecr/repository:Repository").state["arn"]
    function = run.outputs["functionArn"]
    role = run.one("aws:iam/role:Role").state["arn"]
    assert allows("ecr:PutImage", repository)
    assert allows("lambda:UpdateFunctionCode", function)
    assert allows("iam:PassRole", role)
    for group in run.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert allows("logs:CreateLogGroup", group.state["arn"])
    for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert allows("cloudwatch:PutMetricAlarm", alarm.state["arn"])
    for dashboard in run.of_type("aws:cloudwatch/dashboard:Dashboard"):
        assert allows("cloudwatch:PutDashboard", dashboard.state["dashboardArn"])
    for topic in run.of_type("aws:sns/topic:Topic"):
        assert allows("sns:CreateTopic", topic.state["arn"])
    assert not allows("cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing")
    assert not allows("lambda:UpdateFunctionCode", "arn:aws:lambda:us-east-1:123456789012:function:payroll")
    assert not allows("iam:PassRole", "arn:aws:iam::123456789012:role/admin")
    assert not allows("ecr:PutImage", "arn:aws:ecr:us-east-1:123456789012:repository/other")


def test_the_role_may_only_be_passed_to_lambda():
    (statement,) = [s for s in POLICY["Statement"] if s["Action"] == "iam:PassRole"]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}


def test_every_statement_allows_and_nothing_allows_every_action():
    for statement in POLICY["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(":" in action and not action.endswith(":*") for action in actions), statement["Sid"]
