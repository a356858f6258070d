"""The handler's container image: an ECR repository and one build of handler/, addressed by digest.

Two builders, chosen by `imageBuilder`: pulumi-docker-build's `Image` (the default; BuildKit through buildx, which
pulumi-docker's own docs recommend and which works with Docker's containerd image store) and pulumi-docker's
classic `docker.Image` for teams that pin that provider. Either way the function gets `repository@sha256:…`: Lambda
rejects `repository:tag@sha256:…`, which is what docker-build's `ref` output holds (pulumi-docker-build#571).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker
import pulumi_docker_build as docker_build

from infra.config import Settings

BUILD_CONTEXT = "handler"
DOCKERFILE = "handler/Dockerfile"
KEEP_IMAGES = 10


def lifecycle_policy(keep: int) -> str:
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the last {keep} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def by_digest(repository_url: str, digest: str | None) -> str:
    """`repository@sha256:…`, the one image reference Lambda takes that never moves."""
    if not digest or not digest.startswith("sha256:"):
        raise pulumi.RunError(f"the pushed image has no digest ({digest!r}); was the push skipped?")
    return f"{repository_url}@{digest}"


def digest_of(repo_digest: str | None) -> str | None:
    """The `sha256:…` part of a `repository@sha256:…` reference (pulumi-docker's repo_digest)."""
    if not repo_digest:
        return None
    return repo_digest.partition("@")[2] or None


class _Registry:
    """The repository and the credentials a builder pushes with."""

    def __init__(self, repository: aws.ecr.Repository) -> None:
        token = aws.ecr.get_authorization_token_output(registry_id=repository.registry_id)
        self.url = repository.repository_url
        # Docker keys credentials by registry host, not by repository.
        self.host = repository.repository_url.apply(lambda url: url.split("/", 1)[0])
        self.username = token.user_name
        self.password = pulumi.Output.secret(token.password)


def _docker_build_image(
    name: str, settings: Settings, registry: _Registry, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    # The provider builds in-process with buildx's libraries and turns provenance off itself; nothing here asks for
    # an SBOM. `exec` (the buildx CLI, which adds provenance by default) stays off, and one platform is built, so the
    # push is a single image manifest and never the OCI index Lambda rejects.
    image = docker_build.Image(
        f"{name}-image",
        tags=[registry.url.apply(lambda url: f"{url}:{settings.stack}")],
        context=docker_build.BuildContextArgs(location=BUILD_CONTEXT),
        dockerfile=docker_build.DockerfileArgs(location=DOCKERFILE),
        platforms=[docker_build.Platform(settings.platform)],
        push=True,
        registries=[
            docker_build.RegistryArgs(address=registry.host, username=registry.username, password=registry.password)
        ],
        opts=opts,
    )
    return pulumi.Output.all(registry.url, image.digest).apply(lambda values: by_digest(*values))


def _docker_image(
    name: str, settings: Settings, registry: _Registry, opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    # docker.Image builds through the Docker Engine API (ImageBuild + ImagePush), not the buildx CLI, so nothing
    # asks BuildKit for attestations. The pinned platform keeps a one-platform build on any host.
    image = docker.Image(
        f"{name}-image",
        image_name=registry.url.apply(lambda url: f"{url}:{settings.stack}"),
        build=docker.DockerBuildArgs(
            context=BUILD_CONTEXT,
            dockerfile=DOCKERFILE,
            platform=settings.platform,
            builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
        ),
        registry=docker.RegistryArgs(server=registry.url, username=registry.username, password=registry.password),
        opts=opts,
    )
    return pulumi.Output.all(registry.url, image.repo_digest).apply(
        lambda values: by_digest(values[0], digest_of(values[1]))
    )


BUILDERS: dict[str, Callable[[str, Settings, _Registry, pulumi.ResourceOptions], pulumi.Output[str]]] = {
    "docker-build": _docker_build_image,
    "docker": _docker_image,
}


class HandlerImage(pulumi.ComponentResource):
    """Builds handler/ for the function's platform and pushes it; `digest_uri` is `repo@sha256:…`."""

    repository_url: pulumi.Output[str]
    digest_uri: pulumi.Output[str]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("streamgate:index:HandlerImage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        repository = aws.ecr.Repository(
            f"{name}-repo",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            force_delete=settings.force_delete_images,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle", repository=repository.name, policy=lifecycle_policy(KEEP_IMAGES), opts=child
        )

        self.repository_url = repository.repository_url
        # The digest, not the tag: a new build always changes the function, and nothing moves under a tag.
        self.digest_uri = BUILDERS[settings.image_builder](name, settings, _Registry(repository), child)
        self.register_outputs({"repository_url": self.repository_url, "digest_uri": self.digest_uri})
