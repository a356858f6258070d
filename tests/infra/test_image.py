"""The handler image: built by docker-build (default) or classic docker.Image, deployed as `repository@digest` only."""

from __future__ import annotations

import re

import pulumi
import pytest

from infra.aws_rules import AwsRules, PushedImage, Refused
from infra.image import by_digest, digest_of
from infra.offline import ACCOUNT_ID, is_secret

REGION = "us-east-1"
FUNCTION = "aws:lambda/function:Function"
DOCKER_BUILD = "docker-build:index:Image"
DOCKER = "docker:index/image:Image"
BUILDERS = {"docker-build": DOCKER_BUILD, "docker": DOCKER}
REGISTRY = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com"
DIGEST_ONLY = re.compile(rf"^{re.escape(REGISTRY)}/[a-z0-9-]+@sha256:[0-9a-f]{{64}}$")
PLATFORMS = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}


def test_docker_build_is_the_default_builder(program):
    for stack in ("dev", "prod"):
        run = program(stack)
        run.one(DOCKER_BUILD)
        assert not run.of_type(DOCKER)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_the_function_runs_the_pushed_image_by_repository_and_digest_with_no_tag(program, builder):
    run = program("dev", imageBuilder=builder)
    image = run.one(BUILDERS[builder]).state
    uri = run.one(FUNCTION).inputs["imageUri"]
    assert DIGEST_ONLY.match(uri)
    assert uri == run.outputs["imageUri"]
    digest = image["digest"] if builder == "docker-build" else digest_of(image["repoDigest"])
    assert uri == f"{run.outputs['ecrRepositoryUrl']}@{digest}"


def test_docker_builds_ref_output_is_tag_at_digest_which_the_program_does_not_deploy(program):
    # pulumi-docker-build#571: `ref` is repo:tag@sha256:…; Lambda answers "Source image … is not valid".
    run = program("dev")
    ref = run.one(DOCKER_BUILD).state["ref"]
    assert re.match(rf"^{re.escape(REGISTRY)}/[a-z0-9-]+:dev@sha256:[0-9a-f]{{64}}$", ref)
    assert run.one(FUNCTION).inputs["imageUri"] != ref


@pytest.mark.parametrize("architecture", sorted(PLATFORMS))
def test_docker_build_pushes_one_platform_of_handler_to_ecr_with_the_ecr_credentials(program, architecture):
    run = program("dev", architecture=architecture)
    registered = run.one(DOCKER_BUILD)
    image = registered.plain
    assert image["push"] is True
    assert image["platforms"] == [PLATFORMS[architecture]]
    assert run.one(FUNCTION).inputs["architectures"] == [architecture]
    assert image["context"] == {"location": "handler"}
    assert image["dockerfile"] == {"location": "handler/Dockerfile"}
    assert image["tags"] == [f"{run.outputs['ecrRepositoryUrl']}:dev"]
    # Docker keys registry credentials by host.
    assert image["registries"] == [{"address": REGISTRY, "username": "AWS", "password": "offline-ecr-password"}]
    assert is_secret(registered.inputs["registries"])


def test_docker_build_asks_for_no_attestations_so_the_push_is_one_manifest_not_an_index(program):
    # `exec` would run the buildx CLI, whose default provenance turns the push into an OCI index; extra exports
    # or cache settings are where attestations could be asked for.
    image = program("dev").one(DOCKER_BUILD).plain
    assert not image.get("exec")
    assert not {"exports", "cacheTo", "buildArgs"} & set(image)


@pytest.mark.parametrize("architecture", sorted(PLATFORMS))
def test_the_classic_builder_builds_handler_for_the_function_platform_through_the_engine_api(program, architecture):
    run = program("dev", imageBuilder="docker", architecture=architecture)
    registered = run.one(DOCKER)
    image = registered.plain
    assert image["build"] == {
        "context": "handler",
        "dockerfile": "handler/Dockerfile",
        "platform": PLATFORMS[architecture],
        "builderVersion": "BuilderBuildKit",
    }
    assert image["imageName"] == f"{run.outputs['ecrRepositoryUrl']}:dev"
    assert image["registry"]["username"] == "AWS"
    assert image["registry"]["password"] == "offline-ecr-password"
    assert is_secret(registered.inputs["registry"])
    assert image["skipPush"] is False
    assert not run.of_type(DOCKER_BUILD)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_either_image_belongs_to_the_handler_image_component(program, builder):
    run = program("dev", imageBuilder=builder)
    assert run.one(BUILDERS[builder]).parent_type == "streamgate:index:HandlerImage"


def test_an_unknown_builder_is_refused_with_the_choices(program):
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match=r"^streamgate:imageBuilder='buildkit' .* one of docker-build, docker$"):
        program("dev", imageBuilder="buildkit")


def test_a_missing_digest_stops_the_program_instead_of_deploying_a_tag():
    with pytest.raises(pulumi.RunError, match="no digest"):
        by_digest("repo", "")
    assert by_digest("repo", "sha256:" + "a" * 64) == "repo@sha256:" + "a" * 64
    assert digest_of("repo@sha256:" + "b" * 64) == "sha256:" + "b" * 64
    assert digest_of(None) is None


# --- the Lambda double the mocks use (infra/aws_rules.py) ---------------------------------------------------

DIGEST = "sha256:" + "c" * 64


def create_function(rules: AwsRules, uri: str) -> None:
    rules.check(FUNCTION, {"packageType": "Image", "imageUri": uri})


def test_lambda_refuses_a_tag_and_a_digest_together():
    with pytest.raises(Refused, match=r"^InvalidParameterValueException: Source image .* is not valid"):
        create_function(AwsRules(), f"{REGISTRY}/repo:dev@{DIGEST}")


def test_lambda_refuses_an_image_pushed_as_an_oci_index_and_takes_a_single_manifest():
    rules = AwsRules()
    rules.pushed(DIGEST, PushedImage(index=True, platforms=("linux/arm64",)))
    with pytest.raises(Refused, match=r"media type for the source image .* is not supported"):
        create_function(rules, f"{REGISTRY}/repo@{DIGEST}")
    rules.pushed(DIGEST, PushedImage(index=False, platforms=("linux/arm64",)))
    create_function(rules, f"{REGISTRY}/repo@{DIGEST}")
    create_function(rules, f"{REGISTRY}/repo:dev")
