"""`make plan STACK=…` (python -m infra.plan): the offline resource graph, printed for review."""

from __future__ import annotations

import re

import pytest

from infra import plan


def test_dev_plan_lists_the_function_url_graph_with_secrets_masked(capsys):
    assert plan.main(["dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("streamgate plan, stack dev (offline")
    assert "+ aws:lambda/functionUrl:FunctionUrl  handler-url\n      authorizationType: NONE\n" in out
    assert "      type: HTTP_PROXY\n" in out
    assert "      responseTransferMode: STREAM\n" in out
    assert "      environment.variables.ORIGIN_VERIFY_SECRET: [secret]\n" in out
    assert "requestParameters.integration.request.header.X-Origin-Verify: '[secret]'\n" in out
    assert "offline-ecr-password" not in out
    assert "\nOutputs:\n  apiInvokeUrl: https://" in out


def test_prod_plan_fills_the_user_owned_runtime_arn_with_a_marked_placeholder(capsys):
    assert plan.main(["prod"]) == 0
    out = capsys.readouterr().out
    assert f"placeholder agentRuntimeArn = {plan.PLACEHOLDERS['agentRuntimeArn']}" in out
    assert "      type: AWS_PROXY\n" in out
    assert "/response-streaming-invocations\n" in out
    assert "aws:lambda/functionUrl:FunctionUrl" not in out


def test_plan_takes_overrides_and_reports_a_bad_one_in_one_line(capsys):
    assert plan.main(["dev", "integration=aws_proxy"]) == 0
    assert "      type: AWS_PROXY\n" in capsys.readouterr().out
    assert plan.main(["dev", "timeout=0"]) == 2
    assert capsys.readouterr().err == (
        "streamgate plan: streamgate:timeout='0' is not allowed: expected an integer from 1 to 900\n"
    )


@pytest.mark.parametrize("argv", [[], ["dev", "timeout"]])
def test_plan_explains_its_usage(capsys, argv):
    assert plan.main(argv) == 2
    assert capsys.readouterr().err.startswith("usage: python -m infra.plan STACK")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_plan_help_prints_the_usage_and_succeeds(capsys, flag):
    assert plan.main([flag]) == 0
    assert capsys.readouterr().out.startswith("usage: python -m infra.plan STACK")


def test_plan_names_an_unknown_stack(capsys):
    assert plan.main(["staging"]) == 2
    assert capsys.readouterr().err == "streamgate plan: no stack file Pulumi.staging.yaml\n"


def test_plan_refuses_a_misspelt_key_naming_the_setting_it_resembles(capsys):
    assert plan.main(["dev", "memorysize=1024"]) == 2
    assert capsys.readouterr().err == (
        "streamgate plan: streamgate:memorysize is not a setting of this project (did you mean memorySize?); "
        "the settings are declared in Pulumi.yaml\n"
    )


def test_dev_plan_builds_with_docker_build_and_deploys_a_digest_only_image_uri(capsys):
    assert plan.main(["dev"]) == 0
    out = capsys.readouterr().out
    assert "+ docker-build:index:Image  handler-image\n" in out
    assert "      push: true\n" in out
    assert '      platforms: ["linux/arm64"]\n' in out
    assert re.search(
        r"\n      imageUri: \d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+@sha256:[0-9a-f]{64}\n", out
    )
