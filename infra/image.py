"""The handler's container image: an ECR repository and one build of handler/, addressed by digest."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_docker as docker

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
        token = aws.ecr.get_authorization_token_output(registry_id=repository.registry_id)

        # docker.Image builds through the Docker Engine API (ImageBuild + ImagePush), not the buildx CLI,
        # so nothing asks BuildKit for provenance or SBOM attestations: the push is one image manifest,
        # never the OCI index Lambda rejects. The pinned platform keeps a one-platform build on any host.
        image = docker.Image(
            f"{name}-image",
            image_name=repository.repository_url.apply(lambda url: f"{url}:{settings.stack}"),
            build=docker.DockerBuildArgs(
                context=BUILD_CONTEXT,
                dockerfile=DOCKERFILE,
                platform=settings.platform,
                builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
            ),
            registry=docker.RegistryArgs(
                server=repository.repository_url,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            opts=child,
        )

        self.repository_url = repository.repository_url
        # The digest, not the tag: a new build always changes the function, and nothing moves under a tag.
        self.digest_uri = image.repo_digest.apply(_require_digest)
        self.register_outputs({"repository_url": self.repository_url, "digest_uri": self.digest_uri})


def _require_digest(digest: str | None) -> str:
    if not digest or "@sha256:" not in digest:
        raise pulumi.RunError(f"the pushed image has no repo digest ({digest!r}); was the push skipped?")
    return digest
