"""The Lambda that runs the handler image: role, log group, function and, per mode, its function URL."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from handler.cors import NO_ORIGIN
from infra import iam
from infra.account import Account
from infra.config import Settings
from infra.modes import ORIGIN_VERIFY_HEADER
from infra.origin_secret import OriginSecrets, origin_secrets


def app_environment(settings: Settings, origin: OriginSecrets | None) -> dict[str, pulumi.Input[str]]:
    """The variables the app reads (handler/settings.py), plus the adapter's invoke mode."""
    env: dict[str, pulumi.Input[str]] = {
        "BACKEND": settings.backend,
        "CORS_ALLOW_ORIGINS": ",".join(settings.cors_allow_origins) or NO_ORIGIN,
        "HEARTBEAT_SECONDS": str(settings.heartbeat_seconds),
        "OPEN_GRACE_SECONDS": str(settings.open_grace_seconds),
        "WEB_UI": "true" if settings.web_ui else "false",
        "METRICS_NAMESPACE": settings.monitoring.namespace,
        "MAX_ANSWER_BYTES": str(settings.max_answer_bytes),
        # The adapter's invoke mode must match the Lambda API the integration calls (infra/modes.py).
        "AWS_LWA_INVOKE_MODE": settings.delivery.adapter_invoke_mode,
    }
    if settings.backend == "agentcore":
        env["AGENT_RUNTIME_ARN"] = settings.agent_runtime_arn  # type: ignore[assignment]
        if settings.agent_qualifier:
            env["AGENT_QUALIFIER"] = settings.agent_qualifier
    if settings.backend == "bedrock":
        env["MODEL_ID"] = settings.model_id  # type: ignore[assignment]
        env.update(settings.model.environment())
    if settings.authorizer != "none":
        # Where the app reads the caller the authorizer established (handler/caller.py).
        env["AUTHORIZER"] = settings.authorizer
        env["CALLER_FROM"] = settings.integration.caller_via
    if origin is not None:
        env["ORIGIN_VERIFY_SECRET"] = origin.current
        # Still sent by the live deployment while a rotation rolls out.
        env["ORIGIN_VERIFY_SECRET_PREVIOUS"] = origin.previous
        env["ORIGIN_VERIFY_HEADER"] = ORIGIN_VERIFY_HEADER
    return env


class StreamingFunction(pulumi.ComponentResource):
    """The handler as a streaming Lambda; `url` and `origin_secret` exist only in function_url mode."""

    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup
    url: pulumi.Output[str] | None
    origin_secret: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        settings: Settings,
        image_uri: pulumi.Input[str],
        account: pulumi.Output[Account],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("streamgate:index:StreamingFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        mode = settings.integration
        delivery = settings.delivery

        role = self._role(name, settings, account, child)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{pulumi.get_project()}-{settings.stack}",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )
        origin = origin_secrets(name, settings.origin_secret_version, child) if mode.origin_secret else None
        # What API Gateway sends; the function also accepts the previous one.
        self.origin_secret = origin.current if origin else None
        self.function = aws.lambda_.Function(
            name,
            package_type="Image",
            image_uri=image_uri,
            architectures=[settings.architecture],
            memory_size=settings.memory_size,
            timeout=settings.timeout,
            role=role.arn,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=app_environment(settings, origin)),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active" if settings.tracing else "PassThrough"),
            # A cap on environments a flood can hold, calls the app refuses with 403 included (each is billed).
            reserved_concurrent_executions=settings.reserved_concurrency,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )
        self.url = self._function_url(name, mode.function_url_auth, delivery.function_url_invoke_mode, child)
        self.register_outputs({"function_arn": self.function.arn, "url": self.url})

    def _role(
        self, name: str, settings: Settings, account: pulumi.Output[Account], child: pulumi.ResourceOptions
    ) -> aws.iam.Role:
        role = aws.iam.Role(f"{name}-role", assume_role_policy=iam.lambda_assume_role_policy(), opts=child)
        managed = ["service-role/AWSLambdaBasicExecutionRole"]
        if settings.tracing:
            managed.append("AWSXRayDaemonWriteAccess")
        for policy in managed:
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=account.apply(lambda a, policy=policy: f"arn:{a.partition}:iam::aws:policy/{policy}"),
                opts=child,
            )
        if settings.backend != "demo":
            aws.iam.RolePolicy(
                f"{name}-backend",
                role=role.id,
                policy=account.apply(lambda a: iam.policy_document(iam.backend_statements(settings, a))),
                opts=child,
            )
        return role

    def _function_url(
        self, name: str, auth: str | None, invoke_mode: str | None, child: pulumi.ResourceOptions
    ) -> pulumi.Output[str] | None:
        if auth is None or invoke_mode is None:
            return None
        url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            authorization_type=auth,
            invoke_mode=invoke_mode,
            opts=child,
        )
        if auth == "NONE":
            # Since October 2025 a public URL needs both statements; either alone answers 403.
            aws.lambda_.Permission(
                f"{name}-url-public",
                function=self.function.name,
                action="lambda:InvokeFunctionUrl",
                principal="*",
                function_url_auth_type="NONE",
                opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-url-invoke",
                function=self.function.name,
                action="lambda:InvokeFunction",
                principal="*",
                invoked_via_function_url=True,
                opts=child,
            )
        return url.function_url
