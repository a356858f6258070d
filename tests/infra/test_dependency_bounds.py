"""pyproject.toml's lower bounds are releases that have every provider argument the program passes.

A lower bound below one of these would let `uv` resolve a provider that rejects (or silently drops) an argument.
Each entry says which release first has it; they were checked in the released Python SDKs (the argument in the
wheel's generated module) and the upstream changelogs named.
"""

from __future__ import annotations

import inspect
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.loopback import ROOT

FIRST_RELEASE_WITH = {
    "pulumi-aws": [
        # terraform-provider-aws 6.25.0 (#45329): aws_api_gateway_integration response_transfer_mode.
        ("7.13.0", "aws.apigateway.Integration(response_transfer_mode=...)"),
        # terraform-provider-aws 6.26.0 (#45482): timeout_milliseconds up to 900000 when STREAM (300000 before).
        ("7.15.0", "aws.apigateway.Integration(timeout_milliseconds > 300000) with STREAM"),
        # terraform-provider-aws 6.28.0 (#44858): aws_lambda_permission invoked_via_function_url.
        ("7.16.0", "aws.lambda_.Permission(invoked_via_function_url=True)"),
    ],
    # The Image arguments used (context, dockerfile, platforms, push, registries, tags) and its digest output.
    "pulumi-docker-build": [("0.0.2", "docker_build.Image(push=True, platforms=[...], registries=[...])")],
    # docker.Image(build=DockerBuildArgs(platform=..., builder_version=...)) and its repo_digest output.
    "pulumi-docker": [("4.6.0", "docker.Image(build=..., registry=...).repo_digest")],
}


def lower_bounds() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        floors = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
        if floors:
            bounds[requirement.name] = max(floors)
    return bounds


@pytest.mark.parametrize("package", sorted(FIRST_RELEASE_WITH))
def test_each_providers_lower_bound_has_every_argument_the_program_passes(package):
    bound = lower_bounds()[package]
    for first, argument in FIRST_RELEASE_WITH[package]:
        assert bound >= Version(first), f"{package}>={bound} predates {argument} (first in {first})"


def parameters(callable_: object) -> set[str]:
    return set(inspect.signature(callable_).parameters)


def test_the_locked_providers_take_those_arguments():
    import pulumi_aws as aws
    import pulumi_docker as docker
    import pulumi_docker_build as docker_build

    assert {"response_transfer_mode", "timeout_milliseconds"} <= parameters(aws.apigateway.IntegrationArgs)
    assert {"invoked_via_function_url", "function_url_auth_type"} <= parameters(aws.lambda_.PermissionArgs)
    assert {"context", "dockerfile", "platforms", "push", "registries", "tags"} <= parameters(docker_build.ImageArgs)
    assert {"platform", "builder_version"} <= parameters(docker.DockerBuildArgs)
    assert hasattr(docker_build.Image, "digest")
    assert hasattr(docker.Image, "repo_digest")
