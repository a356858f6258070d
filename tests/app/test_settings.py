"""Configuration by environment: sensible defaults, and one clear line for each bad value."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from handler.settings import ConfigError, ModelOptions, Settings


def test_defaults_serve_the_demo_backend():
    settings = Settings.from_env({})
    assert settings.backend == "demo"
    assert settings.heartbeat_seconds == 15
    assert settings.open_grace_seconds == 2
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.cors_allow_origins == ("*",)
    assert settings.origin_verify_secret is None
    assert settings.origin_verify_header == "x-origin-verify"


def test_every_setting_is_read_from_its_variable():
    settings = Settings.from_env(
        {
            "BACKEND": "agentcore",
            "AGENT_RUNTIME_ARN": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-abc",
            "AGENT_QUALIFIER": "prod",
            "AWS_REGION": "us-east-1",
            "MAX_BODY_BYTES": "2048",
            "CORS_ALLOW_ORIGINS": "https://app.example, https://admin.example:8443",
            "HEARTBEAT_SECONDS": "5",
            "OPEN_GRACE_SECONDS": "4.5",
            "ORIGIN_VERIFY_SECRET": "abc",
            "ORIGIN_VERIFY_HEADER": "X-Custom-Verify",
        }
    )
    assert settings.agent_qualifier == "prod"
    assert settings.max_body_bytes == 2048
    assert settings.cors_allow_origins == ("https://app.example", "https://admin.example:8443")
    assert settings.heartbeat_seconds == 5
    assert settings.open_grace_seconds == 4.5
    assert settings.origin_verify_secret == "abc"
    assert settings.origin_verify_header == "x-custom-verify"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKEND": "openai"}, "BACKEND='openai' is not one of agentcore, bedrock, demo"),
        ({"BACKEND": "agentcore"}, "AGENT_RUNTIME_ARN is required when BACKEND=agentcore"),
        ({"BACKEND": "bedrock"}, "MODEL_ID is required when BACKEND=bedrock"),
        (
            {"BACKEND": "bedrock", "MODEL_ID": "m"},
            "AWS_REGION is not set (Lambda sets it; export it to run BACKEND=bedrock locally)",
        ),
        ({"HEARTBEAT_SECONDS": "soon"}, "HEARTBEAT_SECONDS='soon' is not a number (allowed 0.01..600)"),
        ({"HEARTBEAT_SECONDS": "0"}, "HEARTBEAT_SECONDS='0' is out of range (allowed 0.01..600)"),
        (
            {"HEARTBEAT_SECONDS": "2", "OPEN_GRACE_SECONDS": "2"},
            "OPEN_GRACE_SECONDS=2 must be below HEARTBEAT_SECONDS=2 (the grace is silence before the first byte)",
        ),
        ({"OPEN_GRACE_SECONDS": "-1"}, "OPEN_GRACE_SECONDS='-1' is out of range (allowed 0..600)"),
        ({"MAX_BODY_BYTES": "1.5"}, "MAX_BODY_BYTES='1.5' is not a whole number (allowed 1..10485760)"),
        (
            {"MAX_BODY_BYTES": "99999999999"},
            "MAX_BODY_BYTES='99999999999' is out of range (allowed 1..10485760)",
        ),
    ],
)
def test_a_bad_value_is_refused_with_one_line_naming_it(env, message):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(env)
    assert str(refused.value) == message


def test_an_unset_grace_never_outlasts_a_short_heartbeat():
    assert Settings.from_env({"HEARTBEAT_SECONDS": "1"}).open_grace_seconds == 0.5
    assert Settings.from_env({"HEARTBEAT_SECONDS": "1", "OPEN_GRACE_SECONDS": "0"}).open_grace_seconds == 0


def test_metrics_go_to_the_streamgate_namespace_unless_told_otherwise():
    assert Settings.from_env({}).metrics_namespace == "streamgate"
    assert Settings.from_env({"METRICS_NAMESPACE": "acme/streamgate-prod"}).metrics_namespace == "acme/streamgate-prod"


@pytest.mark.parametrize("namespace", ["AWS/Lambda", ":leading-colon", "x" * 256, "naïve", "tab\there"])
def test_a_namespace_cloudwatch_would_refuse_stops_the_app_at_start_up(namespace):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"METRICS_NAMESPACE": namespace})
    assert str(refused.value).startswith(f"METRICS_NAMESPACE={namespace!r} is not a CloudWatch namespace")


def test_the_model_settings_the_stack_sets_are_the_ones_the_app_reads():
    options = ModelOptions(
        system_prompt="Be brief.",
        max_tokens=300,
        temperature=0.2,
        top_p=0.9,
        guardrail_identifier="gr0abc123def",
        guardrail_version="DRAFT",
        guardrail_stream_mode="async",
        model_request_fields='{"thinking":{"type":"enabled","budget_tokens":1024}}',
    )
    env = options.environment()
    assert set(env) == {field.name.upper() for field in fields(ModelOptions)}
    settings = Settings.from_env(env)
    assert {field.name: getattr(settings, field.name) for field in fields(ModelOptions)} == asdict(options)


def test_unset_model_settings_set_no_variables_and_the_stream_mode_goes_only_with_a_guardrail():
    assert ModelOptions().environment() == {}
    assert ModelOptions(max_tokens=5, guardrail_stream_mode="async").environment() == {"MAX_TOKENS": "5"}
