"""Stack configuration, validated up front into one immutable Settings object.

Defaults live in Pulumi.yaml (the typed schema) and nowhere else: the CLI fills them in before the program
runs, and the offline runner does the same. A bad value stops the program with one line that names the key,
the value and what is allowed; `ConfigError` is a `pulumi.RunError`, which Pulumi prints without a traceback.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import pulumi
from pulumi.runtime import config as runtime_config

from handler.caller import PRINCIPALS
from handler.cors import ANY_ORIGIN, ORIGIN, OriginListError, parse_origins
from handler.metrics import NAMESPACE as METRICS_NAMESPACE
from handler.settings import BACKENDS as APP_BACKENDS
from handler.settings import GUARDRAIL_IDENTIFIER as APP_GUARDRAIL_IDENTIFIER
from handler.settings import GUARDRAIL_STREAM_MODES, ModelOptions
from handler.settings import GUARDRAIL_VERSION as APP_GUARDRAIL_VERSION
from infra import modes
from infra.config_reference import load_schema
from infra.modes import MODES, Delivery, IntegrationMode

PROJECT = "streamgate"

TRANSFER_MODES = tuple(modes.TRANSFER_MODES)
# docker-build: pulumi-docker-build (BuildKit through buildx); docker: pulumi-docker's classic docker.Image.
IMAGE_BUILDERS = ("docker-build", "docker")
# The app decides which backends exist; the stack can only choose among them.
BACKENDS = APP_BACKENDS
ARCHITECTURES = ("arm64", "x86_64")
# The app knows where each authorizer leaves the caller; the stack can only choose among those.
AUTHORIZERS = ("none", *PRINCIPALS)
AUTHORIZER_RESULT_TTL_MAX = 3600
# UsagePlan quota periods.
QUOTA_PERIODS = ("DAY", "WEEK", "MONTH")
# PRIVATE needs a VPC endpoint and a resource policy this program does not manage.
ENDPOINT_TYPES = ("REGIONAL", "EDGE")
# The only values CloudWatch Logs accepts for retentionInDays.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)

# Idle connections are cut after this long without a byte; the heartbeat has to beat it.
IDLE_TIMEOUT_SECONDS = {"REGIONAL": 300, "EDGE": 30}

KEYS = (
    "integration",
    "responseTransferMode",
    "allowLongBufferedTimeout",
    "backend",
    "agentRuntimeArn",
    "agentQualifier",
    "modelId",
    "systemPrompt",
    "maxTokens",
    "temperature",
    "topP",
    "guardrailIdentifier",
    "guardrailVersion",
    "guardrailStreamProcessingMode",
    "additionalModelRequestFields",
    "architecture",
    "memorySize",
    "timeout",
    "integrationTimeoutMs",
    "stageName",
    "endpointType",
    "throttleRateLimit",
    "throttleBurstLimit",
    "apiKeyRequired",
    "quotaLimit",
    "quotaPeriod",
    "reservedConcurrency",
    "originSecretVersion",
    "authorizer",
    "cognitoUserPoolArns",
    "authorizationScopes",
    "authorizerFunctionArn",
    "authorizerResultTtl",
    "corsAllowOrigins",
    "logRetentionDays",
    "tracing",
    "accessLogs",
    "heartbeatSeconds",
    "openGraceSeconds",
    "webUi",
    "maxAnswerBytes",
    "wafWebAclArn",
    "domainName",
    "certificateArn",
    "imageBuilder",
    "metricsNamespace",
    "alarmEmail",
    "alarmTopicArn",
    "alarmApi5xxPercent",
    "alarmFunctionErrors",
    "alarmFunctionThrottles",
    "alarmDurationPercentOfTimeout",
    "alarmTtfbP90Ms",
    "alarmUpstreamErrorPercent",
)

AGENT_RUNTIME_ARN_SHAPE = "arn:<partition>:bedrock-agentcore:<region>:<account>:runtime/<id>"
# The setting each backend cannot do without, and what its value looks like.
BACKEND_REQUIRES = {
    "agentcore": ("agentRuntimeArn", AGENT_RUNTIME_ARN_SHAPE),
    "bedrock": ("modelId", "<model or inference-profile id>"),
}

_PARTITION = r"aws(?:-cn|-us-gov|-iso[a-z-]*)?"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
AGENT_RUNTIME_ARN = re.compile(rf"^arn:{_PARTITION}:bedrock-agentcore:{_REGION}:\d{{12}}:runtime/[A-Za-z0-9_-]+$")
_MODEL_ARN = rf"arn:{_PARTITION}:bedrock:{_REGION}:\d{{0,12}}:[a-z-]+/[A-Za-z0-9._:/-]+"
_MODEL_NAME = r"[a-z0-9-]+(?:\.[A-Za-z0-9_-]+)+(?::\d+)?(?::[A-Za-z0-9._-]+)?"  # e.g. us.anthropic.claude-…-v1:0
MODEL_ID = re.compile(rf"^(?:{_MODEL_ARN}|{_MODEL_NAME})$")
WAF_WEB_ACL_ARN = re.compile(rf"^arn:{_PARTITION}:wafv2:{_REGION}:\d{{12}}:regional/webacl/[A-Za-z0-9_-]+/[0-9a-f-]+$")
CERTIFICATE_ARN = re.compile(rf"^arn:{_PARTITION}:acm:({_REGION}):\d{{12}}:certificate/[0-9a-f-]+$")
DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
COGNITO_USER_POOL_ARN = re.compile(rf"^arn:{_PARTITION}:cognito-idp:({_REGION}):\d{{12}}:userpool/\1_[A-Za-z0-9]+$")
LAMBDA_FUNCTION_ARN = re.compile(
    rf"^arn:{_PARTITION}:lambda:{_REGION}:\d{{12}}:function:[A-Za-z0-9_-]{{1,64}}(?::[A-Za-z0-9_$-]{{1,128}})?$"
)
# RFC 6749 scope-token: printable ASCII except space, '"' and '\\'.
SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
# AgentCore's endpoint-name rule (CreateAgentRuntimeEndpoint `name`, botocore's bedrock-agentcore-control model).
QUALIFIER = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,47}$")
SNS_TOPIC_ARN = re.compile(rf"^arn:{_PARTITION}:sns:{_REGION}:\d{{12}}:[A-Za-z0-9_-]{{1,256}}(?:\.fifo)?$")
# Deliberately loose: SNS confirms the address by mail; this only catches an obvious slip.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Lambda allows 4 KB of environment in all; the prompt shares it with the other variables.
MAX_SYSTEM_PROMPT_BYTES = 2048
GUARDRAIL_IDENTIFIER = re.compile(rf"^(?:{APP_GUARDRAIL_IDENTIFIER.pattern})$")
GUARDRAIL_VERSION = re.compile(rf"^(?:{APP_GUARDRAIL_VERSION.pattern})$")


class ConfigError(pulumi.RunError):
    """One bad setting: the message names the key, its value and what is allowed."""


@dataclass(frozen=True)
class MonitoringSettings:
    """Where the app's metrics go, who gets paged, and when (infra/monitoring.py)."""

    namespace: str
    alarm_email: str | None
    alarm_topic_arn: str | None
    api_5xx_percent: int
    function_errors: int
    function_throttles: int
    duration_percent_of_timeout: int
    ttfb_p90_ms: int
    upstream_error_percent: int


@dataclass(frozen=True)
class Settings:
    stack: str
    integration: IntegrationMode
    response_transfer_mode: str
    allow_long_buffered_timeout: bool
    backend: str
    agent_runtime_arn: str | None
    agent_qualifier: str | None
    model_id: str | None
    # What the bedrock backend asks of every ConverseStream call; a request may lower `max_tokens` only.
    model: ModelOptions
    architecture: str
    memory_size: int
    timeout: int
    integration_timeout_ms: int
    stage_name: str
    endpoint_type: str
    throttle_rate_limit: int
    throttle_burst_limit: int
    api_key_required: bool
    # Requests per key per quotaPeriod in the usage plan; 0: no quota, only the rate limits.
    quota_limit: int
    quota_period: str
    # Lambda's reserved concurrency; -1 leaves the function unreserved (the account pool).
    reserved_concurrency: int
    # Bumping it rotates the origin secret (infra/origin_secret.py).
    origin_secret_version: int
    authorizer: str
    cognito_user_pool_arns: tuple[str, ...]
    authorization_scopes: tuple[str, ...]
    authorizer_function_arn: str | None
    authorizer_result_ttl: int
    cors_allow_origins: tuple[str, ...]
    log_retention_days: int
    tracing: bool
    access_logs: bool
    heartbeat_seconds: int
    open_grace_seconds: int
    web_ui: bool
    max_answer_bytes: int
    waf_web_acl_arn: str | None
    domain_name: str | None
    certificate_arn: str | None
    image_builder: str
    monitoring: MonitoringSettings

    @property
    def delivery(self) -> Delivery:
        """Everything the integration and the transfer mode imply (URI, adapter and URL invoke modes)."""
        return modes.derive(self.integration, modes.TRANSFER_MODES[self.response_transfer_mode])

    @property
    def platform(self) -> str:
        """The image build platform, so the image always matches the function's architecture."""
        return {"arm64": "linux/arm64", "x86_64": "linux/amd64"}[self.architecture]

    @property
    def force_delete_images(self) -> bool:
        # A dev stack is disposable, and so is a pull request's review stack (review.yml destroys pr-<number> when
        # the pull request closes: ECR refuses to delete a repository that still holds images). Elsewhere
        # `pulumi destroy` must not silently take the images with it.
        return self.stack == "dev" or self.stack.startswith(("dev-", "pr-"))

    def warnings(self) -> list[str]:
        notes = []
        if self.endpoint_type == "EDGE":
            notes.append(
                "endpointType=EDGE: CloudFront cuts a stream after 30 s without a byte; only the "
                f"{self.heartbeat_seconds} s heartbeat keeps long answers alive (REGIONAL allows 5 min)"
            )
        if self.delivery.transfer.warning:
            notes.append(self.delivery.transfer.warning)
        if self.integration_timeout_ms > self.timeout * 1000:
            notes.append(
                f"integrationTimeoutMs={self.integration_timeout_ms} outlasts the function's "
                f"timeout={self.timeout} s; the function stops first"
            )
        return notes


def load_settings() -> Settings:
    """The settings of the running stack; logs what deserves a warning."""
    refuse_unknown_keys(configured_keys(), load_schema())
    config = pulumi.Config(PROJECT)
    settings = parse_settings({key: config.get(key) for key in KEYS}, stack=pulumi.get_stack(), region=stack_region())
    for note in settings.warnings():
        pulumi.log.warn(note)
    return settings


def configured_keys() -> set[str]:
    """Every config key the CLI handed the program (all namespaces), as the SDK holds them."""
    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def stack_region() -> str | None:
    """The region the AWS provider deploys to, as far as config and environment tell before any call."""
    return pulumi.Config("aws").get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def refuse_unknown_keys(keys: Iterable[str], known: Collection[str]) -> None:
    """A key in this project's namespace that the schema does not declare would silently fall back to its default."""
    by_lower = {key.lower(): key for key in known}
    problems = []
    for full_key in sorted(keys):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT or key in known:
            continue
        nearest = difflib.get_close_matches(key.lower(), list(by_lower), n=1)
        hint = f" (did you mean {by_lower[nearest[0]]}?)" if nearest else ""
        problems.append(f"{full_key} is not a setting of this project{hint}")
    if problems:
        raise ConfigError("; ".join(problems) + "; the settings are declared in Pulumi.yaml")


def parse_settings(values: Mapping[str, str | None], stack: str, region: str | None = None) -> Settings:
    """Validate raw config strings (as Pulumi hands them over) into Settings, or raise ConfigError.

    `region` is the stack's AWS region where known; without it the regional-certificate check waits for
    the provider's region (`infra.api`).
    """
    read = _Reader(values)
    integration = MODES[read.choice("integration", tuple(MODES))]
    transfer_mode = read.choice("responseTransferMode", TRANSFER_MODES)
    delivery = modes.derive(integration, modes.TRANSFER_MODES[transfer_mode])
    allow_long_buffered = read.flag("allowLongBufferedTimeout")
    backend = read.choice("backend", BACKENDS)
    timeout = read.integer("timeout", 1, 900)
    endpoint_type = read.choice("endpointType", ENDPOINT_TYPES)
    idle = IDLE_TIMEOUT_SECONDS[endpoint_type]
    domain_name = read.optional("domainName", DOMAIN_NAME, "a lower-case DNS name such as api.example.com")
    heartbeat = read.integer(
        "heartbeatSeconds", 1, idle - 1, why=f"below the {idle} s idle timeout of {endpoint_type} endpoints"
    )
    agent_runtime_arn, model_id = _backend_target(read, backend)
    memory_size = read.integer("memorySize", 128, 10_240)
    return Settings(
        stack=stack,
        integration=integration,
        response_transfer_mode=transfer_mode,
        allow_long_buffered_timeout=allow_long_buffered,
        backend=backend,
        agent_runtime_arn=agent_runtime_arn,
        agent_qualifier=read.optional(
            "agentQualifier", QUALIFIER, "an AgentCore endpoint name: a letter, then up to 47 letters, digits or '_'"
        ),
        model_id=model_id,
        model=_model(read, backend),
        architecture=read.choice("architecture", ARCHITECTURES),
        memory_size=memory_size,
        timeout=timeout,
        integration_timeout_ms=_integration_timeout_ms(
            read, timeout, delivery.timeout_limit_ms(endpoint_type, allow_long_buffered)
        ),
        stage_name=read.pattern("stageName", STAGE_NAME, "1-128 letters, digits, '_' or '-'"),
        endpoint_type=endpoint_type,
        throttle_rate_limit=read.integer("throttleRateLimit", 1, 10_000),
        # A burst of 0 lets no request through at all.
        throttle_burst_limit=read.integer("throttleBurstLimit", 1, 5_000),
        api_key_required=read.flag("apiKeyRequired"),
        **_quota(read),
        reserved_concurrency=_reserved_concurrency(read),
        origin_secret_version=read.integer("originSecretVersion", 1, 1_000_000),
        **_authorizer(read),
        cors_allow_origins=_cors_allow_origins(read, stack),
        log_retention_days=read.one_of_numbers("logRetentionDays", LOG_RETENTION_DAYS),
        tracing=read.flag("tracing"),
        access_logs=read.flag("accessLogs"),
        heartbeat_seconds=heartbeat,
        # Silence before the first byte: it has to end before a heartbeat would be due, and so before
        # the idle timeout (and CloudFront's 30 s first-byte limit on EDGE).
        open_grace_seconds=read.integer(
            "openGraceSeconds",
            0,
            heartbeat - 1,
            why=f"below heartbeatSeconds={heartbeat} and the {idle} s idle timeout of {endpoint_type} endpoints",
        ),
        web_ui=read.flag("webUi"),
        # A JSON answer is held whole, parsed and re-encoded: several times its size in memory.
        max_answer_bytes=read.integer(
            "maxAnswerBytes",
            1024,
            memory_size * 2**20 // 8,
            why=f"at most an eighth of memorySize={memory_size} MB",
        ),
        waf_web_acl_arn=read.optional(
            "wafWebAclArn", WAF_WEB_ACL_ARN, "a regional WAFv2 web ACL ARN (…:regional/webacl/…)"
        ),
        domain_name=domain_name,
        certificate_arn=_certificate_arn(read, domain_name, endpoint_type, region),
        image_builder=read.choice("imageBuilder", IMAGE_BUILDERS),
        monitoring=_monitoring(read, stack),
    )


def _monitoring(read: _Reader, stack: str) -> MonitoringSettings:
    namespace = read.optional(
        "metricsNamespace", METRICS_NAMESPACE, "a CloudWatch namespace (1-255 characters, not starting with AWS/)"
    )
    email = read.optional("alarmEmail", EMAIL, "an email address")
    topic = read.optional(
        "alarmTopicArn", SNS_TOPIC_ARN, "an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>)"
    )
    if email and topic:
        raise ConfigError(
            f"{PROJECT}:alarmEmail={email!r} and alarmTopicArn={topic!r}: set one (a new topic mailing alarmEmail, "
            "or your existing topic), not both"
        )
    return MonitoringSettings(
        # One namespace per stack, so two stacks in one account never mix their figures.
        namespace=namespace or f"{PROJECT}/{stack}",
        alarm_email=email,
        alarm_topic_arn=topic,
        api_5xx_percent=read.integer("alarmApi5xxPercent", 1, 100),
        function_errors=read.integer("alarmFunctionErrors", 1, 1_000_000),
        function_throttles=read.integer("alarmFunctionThrottles", 1, 1_000_000),
        duration_percent_of_timeout=read.integer("alarmDurationPercentOfTimeout", 10, 100),
        ttfb_p90_ms=read.integer("alarmTtfbP90Ms", 1, 900_000),
        upstream_error_percent=read.integer("alarmUpstreamErrorPercent", 1, 100),
    )


def _model(read: _Reader, backend: str) -> ModelOptions:
    prompt = read.raw("systemPrompt") or None
    if prompt is not None and len(prompt.encode()) > MAX_SYSTEM_PROMPT_BYTES:
        raise ConfigError(
            f"{PROJECT}:systemPrompt is {len(prompt.encode())} bytes; at most {MAX_SYSTEM_PROMPT_BYTES} "
            "(it travels in the function's environment, which Lambda caps at 4 KB in all)"
        )
    identifier = read.optional("guardrailIdentifier", GUARDRAIL_IDENTIFIER, "a guardrail id or its ARN")
    version = read.optional("guardrailVersion", GUARDRAIL_VERSION, "a guardrail version number or DRAFT")
    if (identifier is None) != (version is None):
        raise ConfigError(
            f"{PROJECT}:guardrailIdentifier={identifier or ''!r} and guardrailVersion={version or ''!r}: "
            "set both or neither"
        )
    config = ModelOptions(
        system_prompt=prompt,
        max_tokens=read.integer("maxTokens", 0, 1_000_000, why="0 leaves the model's default") or None,
        temperature=read.unit_interval("temperature"),
        top_p=read.unit_interval("topP"),
        guardrail_identifier=identifier,
        guardrail_version=version,
        guardrail_stream_mode=read.choice("guardrailStreamProcessingMode", GUARDRAIL_STREAM_MODES),
        model_request_fields=_request_fields(read),
    )
    shaping = {
        "additionalModelRequestFields": config.model_request_fields,
        "systemPrompt": prompt,
        "temperature": config.temperature,
        "topP": config.top_p,
        "guardrailIdentifier": identifier,
    }
    chosen = [key for key, value in shaping.items() if value is not None]
    if chosen and backend != "bedrock":
        raise ConfigError(f"{PROJECT}:{chosen[0]} applies to backend=bedrock only (this stack's backend is {backend})")
    return config


def _request_fields(read: _Reader) -> str | None:
    raw = read.raw("additionalModelRequestFields") or None
    if raw is None:
        return None
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    if not isinstance(fields, dict) or len(raw.encode()) > MAX_SYSTEM_PROMPT_BYTES:
        raise ConfigError(
            f"{PROJECT}:additionalModelRequestFields={raw!r} is not allowed: expected a JSON object of at most "
            f'{MAX_SYSTEM_PROMPT_BYTES} bytes, e.g. {{"thinking": {{"type": "enabled", "budget_tokens": 2048}}}}'
        )
    # Stored compact: it travels in the function's environment.
    return json.dumps(fields, separators=(",", ":"))


def _backend_target(read: _Reader, backend: str) -> tuple[str | None, str | None]:
    """The agent runtime ARN and model ID; the one the backend needs must be set."""
    arn = read.optional("agentRuntimeArn", AGENT_RUNTIME_ARN, AGENT_RUNTIME_ARN_SHAPE)
    model_id = read.optional("modelId", MODEL_ID, "a Bedrock model or inference-profile ID, or its ARN")
    if model_id and ":application-inference-profile/" in model_id:
        # Its policy must also name the model behind it, which the ARN does not reveal.
        raise ConfigError(
            f"{PROJECT}:modelId={model_id!r}: application inference profiles are not supported; "
            "use the model ID or a system inference-profile ID (e.g. us.<model id>)"
        )
    needed = BACKEND_REQUIRES.get(backend)
    if needed and not {"agentRuntimeArn": arn, "modelId": model_id}[needed[0]]:
        key, example = needed
        raise ConfigError(
            f"{PROJECT}:{key} is required when backend={backend}; set it with: pulumi config set {key} {example}"
        )
    return arn, model_id


def _quota(read: _Reader) -> dict[str, object]:
    limit = read.integer("quotaLimit", 0, 2**31 - 1, why="requests per key per quotaPeriod; 0 for none")
    period = read.choice("quotaPeriod", QUOTA_PERIODS)
    if limit and not read.flag("apiKeyRequired"):
        raise ConfigError(
            f"{PROJECT}:quotaLimit={limit} counts requests per API key, but apiKeyRequired=false; "
            "set apiKeyRequired true or quotaLimit 0"
        )
    return {"quota_limit": limit, "quota_period": period}


def _reserved_concurrency(read: _Reader) -> int:
    value = read.integer("reservedConcurrency", -1, 10_000, why="-1 for none; 0 would stop the function")
    if value == 0:
        raise ConfigError(
            f"{PROJECT}:reservedConcurrency=0 would throttle every request; use -1 for no reservation or a cap of 1+"
        )
    return value


def _cors_allow_origins(read: _Reader, stack: str) -> tuple[str, ...]:
    """The browser origins the app answers; a production stack must name them."""
    origins = read.items("corsAllowOrigins", ORIGIN, "* or an origin like https://app.example.com (no path)")
    # An empty list is allowed: no browser page may read the answers.
    try:
        origins = parse_origins(origins)
    except OriginListError as error:
        raise ConfigError(f"{PROJECT}:corsAllowOrigins={list(origins)!r}: {error}") from None
    if ANY_ORIGIN in origins and is_production(stack):
        raise ConfigError(
            f"{PROJECT}:corsAllowOrigins=['*'] is not allowed in stack {stack}: name the origins your pages are "
            "served from (pulumi config set --path 'corsAllowOrigins[0]' https://app.example.com), or [] for none"
        )
    return origins


def is_production(stack: str) -> bool:
    return stack == "prod" or stack.startswith("prod-")


def _authorizer(read: _Reader) -> dict[str, object]:
    """The authorizer and its settings; a setting that belongs to another authorizer is an error, not ignored."""
    kind = read.choice("authorizer", AUTHORIZERS)
    pools = read.items(
        "cognitoUserPoolArns", COGNITO_USER_POOL_ARN, "a Cognito user pool ARN (…:userpool/<region>_<id>)"
    )
    scopes = read.items("authorizationScopes", SCOPE, "an OAuth scope such as openid or api/read")
    function_arn = read.optional("authorizerFunctionArn", LAMBDA_FUNCTION_ARN, "a Lambda function ARN")
    ttl = read.integer("authorizerResultTtl", 0, AUTHORIZER_RESULT_TTL_MAX, why="seconds API Gateway caches a decision")
    if kind == "cognito" and not pools:
        raise ConfigError(
            f"{PROJECT}:cognitoUserPoolArns is required when authorizer=cognito; set it with: "
            "pulumi config set --path 'cognitoUserPoolArns[0]' arn:aws:cognito-idp:<region>:<account>:userpool/<id>"
        )
    if kind == "lambda" and not function_arn:
        raise ConfigError(
            f"{PROJECT}:authorizerFunctionArn is required when authorizer=lambda; set it with: "
            "pulumi config set authorizerFunctionArn arn:aws:lambda:<region>:<account>:function:<name>"
        )
    for key, value, owner in (
        ("cognitoUserPoolArns", pools, "cognito"),
        ("authorizationScopes", scopes, "cognito"),
        ("authorizerFunctionArn", function_arn, "lambda"),
    ):
        if value and kind != owner:
            raise ConfigError(f"{PROJECT}:{key} is set but authorizer={kind}; it applies only to authorizer={owner}")
    return {
        "authorizer": kind,
        "cognito_user_pool_arns": pools,
        "authorization_scopes": scopes,
        "authorizer_function_arn": function_arn,
        "authorizer_result_ttl": ttl,
    }


def _integration_timeout_ms(read: _Reader, timeout: int, limit: tuple[int, str]) -> int:
    high, why = limit
    # 0 means "as long as the function may run": the API should not give up before the function does.
    raw = read.raw("integrationTimeoutMs")
    if raw in (None, "", "0"):
        value = timeout * 1000
        if value > high:
            raise ConfigError(
                f"{PROJECT}:integrationTimeoutMs defaults to timeout={timeout} s = {value} ms, above {high} "
                f"({why}); set integrationTimeoutMs between 50 and {high}"
            )
        return value
    return read.integer("integrationTimeoutMs", 50, high, why=why)


def _certificate_arn(read: _Reader, domain_name: str | None, endpoint_type: str, region: str | None) -> str | None:
    arn = read.optional("certificateArn", CERTIFICATE_ARN, "an ACM certificate ARN")
    if (arn is None) != (domain_name is None):
        raise ConfigError(
            f"{PROJECT}:domainName={domain_name or ''!r} and certificateArn={arn or ''!r}: set both or neither"
        )
    if arn is None:
        return None
    return certificate_in_region(arn, endpoint_type, region)


def certificate_in_region(arn: str, endpoint_type: str, region: str | None) -> str:
    """`arn`, if its endpoints can use it from `region` (None: not known before the provider says;
    `infra.api` checks again then); a ConfigError naming both regions otherwise.

    ACM certificates are regional: CloudFront (EDGE) reads them from us-east-1, a REGIONAL API from its own region."""
    needed = "us-east-1" if endpoint_type == "EDGE" else region
    in_region = CERTIFICATE_ARN.match(arn).group(1)  # type: ignore[union-attr]
    if needed is not None and in_region != needed:
        raise ConfigError(
            f"{PROJECT}:certificateArn={arn!r} is in {in_region}; "
            f"{endpoint_type} endpoints in this stack need a certificate from {needed}"
        )
    return arn


class _Reader:
    def __init__(self, values: Mapping[str, str | None]) -> None:
        self._values = values

    def raw(self, key: str) -> str | None:
        value = self._values.get(key)
        return None if value is None else str(value).strip()

    def _fail(self, key: str, value: object, allowed: str) -> ConfigError:
        return ConfigError(f"{PROJECT}:{key}={value!r} is not allowed: expected {allowed}")

    def _present(self, key: str, allowed: str) -> str:
        value = self.raw(key)
        if not value:
            raise self._fail(key, value or "", allowed)
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self._present(key, "one of " + ", ".join(allowed))
        if value not in allowed:
            raise self._fail(key, value, "one of " + ", ".join(allowed))
        return value

    def flag(self, key: str) -> bool:
        value = self._present(key, "true or false").lower()
        if value not in ("true", "false"):
            raise self._fail(key, self.raw(key), "true or false")
        return value == "true"

    def integer(self, key: str, low: int, high: int, why: str | None = None) -> int:
        allowed = f"an integer from {low} to {high}" + (f" ({why})" if why else "")
        value = self._present(key, allowed)
        try:
            number = int(value)
        except ValueError:
            raise self._fail(key, value, allowed) from None
        if not low <= number <= high:
            raise self._fail(key, value, allowed)
        return number

    def one_of_numbers(self, key: str, allowed: tuple[int, ...]) -> int:
        text = "one of " + ", ".join(map(str, allowed))
        value = self._present(key, text)
        if not value.isdigit() or int(value) not in allowed:
            raise self._fail(key, value, text)
        return int(value)

    def pattern(self, key: str, regex: re.Pattern[str], allowed: str) -> str:
        value = self._present(key, allowed)
        if not regex.match(value):
            raise self._fail(key, value, allowed)
        return value

    def unit_interval(self, key: str) -> float | None:
        """Empty, or a number from 0 to 1 (Bedrock's range for temperature and topP)."""
        value = self.raw(key)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            raise self._fail(key, value, "empty or a number from 0 to 1") from None
        if not 0 <= number <= 1:
            raise self._fail(key, value, "empty or a number from 0 to 1")
        return number

    def optional(self, key: str, regex: re.Pattern[str], allowed: str) -> str | None:
        return self.pattern(key, regex, allowed) if self.raw(key) else None

    def items(self, key: str, regex: re.Pattern[str], allowed: str) -> tuple[str, ...]:
        """A list setting. Pulumi hands an array over as JSON text; a bare string counts as one item."""
        value = self.raw(key)
        if not value:
            return ()
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        if isinstance(parsed, str):
            parsed = [parsed]
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise self._fail(key, value, f"a list, each {allowed}")
        items = tuple(item.strip() for item in parsed)
        for item in items:
            if not regex.match(item):
                raise self._fail(key, item, allowed)
        if len(set(items)) != len(items):
            raise self._fail(key, value, f"a list without repeats, each {allowed}")
        return items
