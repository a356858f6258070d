"""Settings validation: every bad value stops the program with one line naming key, value and what is allowed."""

from __future__ import annotations

import pulumi
import pytest

from infra.config import KEYS, ConfigError, parse_settings, refuse_unknown_keys
from infra.config_reference import load_schema
from infra.offline import run_program, stack_config
from tests.infra.conftest import RUNTIME_ARN


def values(stack: str = "dev", **overrides: object) -> dict[str, str]:
    """Raw config as the CLI hands it over: Pulumi.yaml defaults, the stack file, then overrides."""
    config = stack_config(stack, overrides)
    return {key: config[f"streamgate:{key}"] for key in KEYS}


def test_dev_stack_file_is_function_url_with_the_demo_backend_streaming_on_arm64():
    settings = parse_settings(values("dev"), stack="dev")
    assert settings.integration.name == "function_url"
    assert settings.backend == "demo"
    assert settings.response_transfer_mode == "STREAM"
    assert settings.architecture == "arm64"
    assert settings.platform == "linux/arm64"
    assert settings.endpoint_type == "REGIONAL"
    assert settings.force_delete_images is True


@pytest.mark.parametrize(
    ("stack", "disposable"), [("dev-alice", True), ("pr-12", True), ("prod", False), ("staging", False)]
)
def test_only_dev_and_review_stacks_let_destroy_delete_their_images(stack, disposable):
    named = values("dev", corsAllowOrigins=["https://app.example.com"])  # prod may not allow every origin
    assert parse_settings(named, stack=stack).force_delete_images is disposable


def test_prod_stack_file_is_aws_proxy_to_agentcore_and_keeps_its_images():
    settings = parse_settings(values("prod", agentRuntimeArn=RUNTIME_ARN), stack="prod")
    assert settings.integration.name == "aws_proxy"
    assert settings.backend == "agentcore"
    assert settings.agent_runtime_arn == RUNTIME_ARN
    assert settings.force_delete_images is False


def test_integration_timeout_follows_the_function_timeout_unless_set():
    assert parse_settings(values(timeout=120), stack="dev").integration_timeout_ms == 120_000
    assert (
        parse_settings(values(timeout=120, integrationTimeoutMs=60_000), stack="dev").integration_timeout_ms == 60_000
    )


def test_x86_64_builds_for_linux_amd64():
    assert parse_settings(values(architecture="x86_64"), stack="dev").platform == "linux/amd64"


def test_settings_are_immutable():
    settings = parse_settings(values(), stack="dev")
    with pytest.raises(AttributeError):
        settings.timeout = 5  # type: ignore[misc]


def test_prod_without_a_runtime_arn_fails_with_the_command_that_sets_it():
    with pytest.raises(ConfigError) as failure:
        parse_settings(values("prod"), stack="prod")
    assert str(failure.value) == (
        "streamgate:agentRuntimeArn is required when backend=agentcore; set it with: "
        "pulumi config set agentRuntimeArn arn:<partition>:bedrock-agentcore:<region>:<account>:runtime/<id>"
    )


def test_bedrock_without_a_model_fails_with_the_command_that_sets_it():
    with pytest.raises(ConfigError, match=r"^streamgate:modelId is required when backend=bedrock; set it with: "):
        parse_settings(values(backend="bedrock"), stack="dev")


def test_an_application_inference_profile_is_refused_because_its_model_cannot_be_granted():
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5"
    with pytest.raises(ConfigError, match=r"^streamgate:modelId='arn:.*': application inference profiles are not"):
        parse_settings(values(backend="bedrock", modelId=arn), stack="dev")


def test_the_stack_offers_exactly_the_backends_the_app_has():
    from handler.settings import BACKENDS as APP_BACKENDS
    from infra.config import BACKENDS

    assert BACKENDS == APP_BACKENDS == ("agentcore", "bedrock", "demo")


@pytest.mark.parametrize(
    ("key", "bad", "allowed"),
    [
        ("integration", "lambda", "one of function_url, aws_proxy"),
        ("responseTransferMode", "stream", "one of STREAM, BUFFERED"),
        ("backend", "openai", "one of agentcore, bedrock, demo"),
        ("architecture", "amd64", "one of arm64, x86_64"),
        ("memorySize", "64", "an integer from 128 to 10240"),
        ("memorySize", "lots", "an integer from 128 to 10240"),
        ("timeout", "0", "an integer from 1 to 900"),
        ("timeout", "901", "an integer from 1 to 900"),
        ("integrationTimeoutMs", "49", "an integer from 50 to 900000"),
        ("integrationTimeoutMs", "900001", "an integer from 50 to 900000"),
        ("stageName", "v 1", "1-128 letters, digits, '_' or '-'"),
        ("endpointType", "PRIVATE", "one of REGIONAL, EDGE"),
        ("throttleRateLimit", "0", "an integer from 1 to 10000"),
        ("throttleBurstLimit", "0", "an integer from 1 to 5000"),
        ("apiKeyRequired", "yes", "true or false"),
        ("corsAllowOrigins", "https://a.example, https://b.example", "* or an origin like https://app.example.com"),
        ("logRetentionDays", "10", "one of 1, 3, 5, 7, 14, 30"),
        ("tracing", "on", "true or false"),
        ("heartbeatSeconds", "300", "an integer from 1 to 299 (below the 300 s idle timeout of REGIONAL"),
        ("agentRuntimeArn", "arn:aws:bedrock:us-east-1:123456789012:agent/x", "arn:<partition>:bedrock-agentcore:"),
        ("agentQualifier", "prod endpoint", "an AgentCore endpoint name"),
        ("agentQualifier", "prod-endpoint", "a letter, then up to 47 letters, digits or '_'"),
        ("agentQualifier", "1prod", "a letter, then up to 47 letters, digits or '_'"),
        ("agentQualifier", "p" * 49, "a letter, then up to 47 letters, digits or '_'"),
        ("modelId", "not a model", "a Bedrock model or inference-profile ID"),
        ("wafWebAclArn", "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/1", "a regional WAFv2 web ACL ARN"),
        ("domainName", "API.example.com", "a lower-case DNS name"),
        ("certificateArn", "arn:aws:iam::123456789012:server-certificate/x", "an ACM certificate ARN"),
        ("maxTokens", "-1", "an integer from 0 to 1000000 (0 leaves the model's default)"),
        ("maxTokens", "1000001", "an integer from 0 to 1000000"),
        ("temperature", "1.2", "empty or a number from 0 to 1"),
        ("temperature", "warm", "empty or a number from 0 to 1"),
        ("topP", "-0.5", "empty or a number from 0 to 1"),
        ("guardrailIdentifier", "My Guardrail", "a guardrail id or its ARN"),
        ("guardrailVersion", "latest", "a guardrail version number or DRAFT"),
        ("guardrailStreamProcessingMode", "SYNC", "one of sync, async"),
        ("additionalModelRequestFields", "[1, 2]", "a JSON object of at most 2048 bytes"),
        ("additionalModelRequestFields", "{thinking}", "a JSON object of at most 2048 bytes"),
    ],
)
def test_a_bad_value_names_the_key_the_value_and_what_is_allowed(key, bad, allowed):
    with pytest.raises(ConfigError) as failure:
        parse_settings(values(**{key: bad}), stack="dev")
    message = str(failure.value)
    assert message.startswith(f"streamgate:{key}={bad!r} is not allowed: expected ")
    assert allowed in message
    assert "\n" not in message


def test_buffered_mode_caps_the_timeout_at_29_seconds_without_the_quota_flag():
    with pytest.raises(ConfigError) as failure:
        parse_settings(values(responseTransferMode="BUFFERED", integrationTimeoutMs=30_000), stack="dev")
    assert str(failure.value) == (
        "streamgate:integrationTimeoutMs='30000' is not allowed: expected an integer from 50 to 29000 "
        "(the BUFFERED limit without a quota increase; see allowLongBufferedTimeout)"
    )


def test_buffered_mode_names_the_defaulted_timeout_when_that_is_what_breaks_the_cap():
    with pytest.raises(ConfigError, match=r"^streamgate:integrationTimeoutMs defaults to timeout=300 s = 300000 ms"):
        parse_settings(values(responseTransferMode="BUFFERED"), stack="dev")


def test_buffered_mode_allows_longer_timeouts_only_with_the_quota_flag_and_never_past_300_seconds():
    settings = parse_settings(
        values(responseTransferMode="BUFFERED", integrationTimeoutMs=120_000, allowLongBufferedTimeout=True),
        stack="dev",
    )
    assert settings.integration_timeout_ms == 120_000
    with pytest.raises(ConfigError, match="an integer from 50 to 300000"):
        parse_settings(
            values(responseTransferMode="BUFFERED", integrationTimeoutMs=300_001, allowLongBufferedTimeout=True),
            stack="dev",
        )


def test_edge_is_allowed_with_a_warning_and_a_heartbeat_under_its_30_second_idle_timeout():
    settings = parse_settings(values(endpointType="EDGE", heartbeatSeconds=20), stack="dev")
    assert any("EDGE" in note and "30 s" in note for note in settings.warnings())
    with pytest.raises(ConfigError, match=r"heartbeatSeconds='30' .* from 1 to 29 \(below the 30 s idle timeout"):
        parse_settings(values(endpointType="EDGE", heartbeatSeconds=30), stack="dev")


def test_the_open_grace_stays_below_the_heartbeat_and_so_below_the_idle_timeout():
    assert parse_settings(values(), stack="dev").open_grace_seconds == 2
    assert parse_settings(values(openGraceSeconds=0), stack="dev").open_grace_seconds == 0
    with pytest.raises(ConfigError, match=r"openGraceSeconds='15' .* from 0 to 14 \(below heartbeatSeconds=15 and"):
        parse_settings(values(openGraceSeconds=15), stack="dev")
    edge = values(endpointType="EDGE", heartbeatSeconds=20, openGraceSeconds=25)
    with pytest.raises(ConfigError, match=r"from 0 to 19 \(below heartbeatSeconds=20 and the 30 s idle timeout"):
        parse_settings(edge, stack="dev")


def test_a_custom_domain_needs_its_certificate_and_edge_needs_one_from_us_east_1():
    with pytest.raises(ConfigError, match="set both or neither"):
        parse_settings(values(domainName="api.example.com"), stack="dev")
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0000-4000-8000-000000000000"
    with pytest.raises(ConfigError, match="EDGE endpoints in this stack need a certificate from us-east-1"):
        parse_settings(
            values(domainName="api.example.com", certificateArn=cert, endpointType="EDGE", heartbeatSeconds=15),
            stack="dev",
        )
    assert (
        parse_settings(values(domainName="api.example.com", certificateArn=cert), stack="dev").certificate_arn == cert
    )


def test_a_config_error_is_a_pulumi_run_error_so_preview_prints_one_line_without_a_traceback():
    assert issubclass(ConfigError, pulumi.RunError)


def test_the_program_itself_refuses_a_bad_stack_config():
    with pytest.raises(ConfigError, match=r"^streamgate:timeout='0' is not allowed"):
        run_program("dev", {"timeout": 0})


def test_an_agent_qualifier_within_the_endpoint_name_rule_is_kept():
    for qualifier in ("prod", "Prod_v2", "p" * 48):
        settings = parse_settings(values("prod", agentRuntimeArn=RUNTIME_ARN, agentQualifier=qualifier), stack="prod")
        assert settings.agent_qualifier == qualifier


def test_the_qualifier_rule_is_agentcores_endpoint_name_pattern():
    import botocore.session

    from infra.config import QUALIFIER

    model = botocore.session.get_session().get_service_model("bedrock-agentcore-control")
    pattern = model.operation_model("CreateAgentRuntimeEndpoint").input_shape.members["name"].metadata["pattern"]
    assert QUALIFIER.pattern == f"^{pattern}$"


CERT_EU = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0000-4000-8000-000000000000"


def test_a_regional_domain_needs_a_certificate_from_the_stacks_region():
    domain = values(domainName="api.example.com", certificateArn=CERT_EU)
    with pytest.raises(ConfigError) as refused:
        parse_settings(domain, stack="dev", region="us-east-1")
    assert str(refused.value) == (
        f"streamgate:certificateArn={CERT_EU!r} is in eu-west-1; "
        "REGIONAL endpoints in this stack need a certificate from us-east-1"
    )
    assert parse_settings(domain, stack="dev", region="eu-west-1").certificate_arn == CERT_EU


def test_the_program_checks_the_certificate_against_the_stacks_aws_region():
    with pytest.raises(ConfigError, match="is in eu-west-1; REGIONAL endpoints in this stack need"):
        run_program("dev", {"domainName": "api.example.com", "certificateArn": CERT_EU})
    run = run_program("dev", {"domainName": "api.example.com", "certificateArn": CERT_EU, "aws:region": "eu-west-1"})
    assert run.one("aws:apigateway/domainName:DomainName").inputs["regionalCertificateArn"] == CERT_EU


# --- keys the schema does not know -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "nearest"), [("memorysize", "memorySize"), ("backnd", "backend"), ("heartbeatSecond", "heartbeatSeconds")]
)
def test_a_misspelt_key_fails_the_program_naming_it_and_the_nearest_setting(typo, nearest):
    with pytest.raises(ConfigError) as refused:
        run_program("dev", {typo: "1024"})
    assert str(refused.value) == (
        f"streamgate:{typo} is not a setting of this project (did you mean {nearest}?); "
        "the settings are declared in Pulumi.yaml"
    )


def test_a_key_like_no_setting_is_named_without_a_guess_and_every_unknown_key_is_listed():
    with pytest.raises(ConfigError) as refused:
        refuse_unknown_keys({"streamgate:zzz", "streamgate:backnd", "aws:region"}, load_schema())
    assert str(refused.value) == (
        "streamgate:backnd is not a setting of this project (did you mean backend?); "
        "streamgate:zzz is not a setting of this project; the settings are declared in Pulumi.yaml"
    )


def test_other_namespaces_are_not_this_projects_to_judge():
    refuse_unknown_keys({"aws:region", "aws:profile", "docker-build:host"}, load_schema())


def test_the_known_keys_are_whatever_pulumi_yaml_declares(tmp_path):
    schema = tmp_path / "Pulumi.yaml"
    schema.write_text("name: streamgate\nruntime: python\nconfig:\n  newSetting:\n    type: string\n    default: x\n")
    refuse_unknown_keys({"streamgate:newSetting"}, load_schema(schema))
    with pytest.raises(ConfigError, match=r"streamgate:newSettin is not a setting .*did you mean newSetting"):
        refuse_unknown_keys({"streamgate:newSettin"}, load_schema(schema))


def test_the_keys_the_cli_passes_through_the_environment_are_checked_too(monkeypatch):
    # The Python language host hands the program its config as PULUMI_CONFIG (JSON), which pulumi.Config reads.
    from infra.config import configured_keys

    monkeypatch.setenv("PULUMI_CONFIG", '{"streamgate:backnd": "demo", "aws:region": "us-east-1"}')
    assert {"streamgate:backnd", "aws:region"} <= configured_keys()
    with pytest.raises(
        ConfigError, match=r"^streamgate:backnd is not a setting of this project \(did you mean backend"
    ):
        refuse_unknown_keys(configured_keys(), load_schema())


def test_the_json_answer_cap_is_held_to_an_eighth_of_the_functions_memory():
    assert parse_settings(values(maxAnswerBytes=2**20), stack="dev").max_answer_bytes == 2**20
    with pytest.raises(ConfigError, match=r"maxAnswerBytes='67108865' .* to 67108864 \(at most an eighth of memory"):
        parse_settings(values(memorySize=512, maxAnswerBytes=64 * 2**20 + 1), stack="dev")


BEDROCK = {"backend": "bedrock", "modelId": "amazon.nova-pro-v1:0"}


def test_model_settings_default_to_a_4096_token_cap_and_the_models_own_sampling():
    model = parse_settings(values(**BEDROCK), stack="dev").model
    assert (model.max_tokens, model.temperature, model.top_p, model.system_prompt) == (4096, None, None, None)
    assert model.guardrail_identifier is None
    assert parse_settings(values(**BEDROCK, maxTokens=0), stack="dev").model.max_tokens is None


def test_a_guardrail_needs_both_its_identifier_and_its_version():
    with pytest.raises(ConfigError) as failure:
        parse_settings(values(**BEDROCK, guardrailIdentifier="gr0abc123"), stack="dev")
    assert str(failure.value) == (
        "streamgate:guardrailIdentifier='gr0abc123' and guardrailVersion='': set both or neither"
    )


def test_a_system_prompt_must_fit_the_functions_environment():
    with pytest.raises(ConfigError, match=r"^streamgate:systemPrompt is 2049 bytes; at most 2048 \(it travels"):
        parse_settings(values(**BEDROCK, systemPrompt="é" * 1024 + "x"), stack="dev")


@pytest.mark.parametrize(
    ("key", "value"), [("systemPrompt", "Be brief."), ("temperature", "0.3"), ("guardrailIdentifier", "gr0abc")]
)
def test_model_settings_on_another_backend_are_refused_rather_than_ignored(key, value):
    extra = {"guardrailVersion": "1"} if key == "guardrailIdentifier" else {}
    with pytest.raises(ConfigError) as failure:
        parse_settings(values(**{key: value}, **extra), stack="dev")
    assert str(failure.value) == f"streamgate:{key} applies to backend=bedrock only (this stack's backend is demo)"


def test_a_region_known_only_to_the_aws_profile_still_gets_its_certificate_checked(monkeypatch):
    """No `aws:region` and no AWS_REGION: the provider takes the region from the profile, and the
    program checks the certificate against what the provider reports (here the mocks' us-east-1)."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    unset = {"domainName": "api.example.com", "certificateArn": CERT_EU, "aws:region": None}
    with pytest.raises(ConfigError, match="is in eu-west-1; REGIONAL endpoints in this stack need a certificate"):
        run_program("dev", unset)
    cert_us = CERT_EU.replace("eu-west-1", "us-east-1")
    run = run_program("dev", {**unset, "certificateArn": cert_us})
    assert run.one("aws:apigateway/domainName:DomainName").inputs["regionalCertificateArn"] == cert_us
