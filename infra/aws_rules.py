"""What AWS refuses, for the offline mocks: the documented rules a real deploy would hit, checked at registration.

The mocks in infra/offline.py accept any input; these rules make an offline run (the tests, `make plan`) fail the
way `pulumi up` would, with the service's own error text. Each rule names the source it follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# "Set up a Lambda proxy integration with payload response streaming in API Gateway" (API Gateway developer
# guide): STREAM calls InvokeWithResponseStream, a different URI; the buffered one is the 2015-03-31 invoke API.
LAMBDA_URI = re.compile(
    r"^arn:[a-z-]+:apigateway:[a-z0-9-]+:lambda:path/(?P<version>[0-9-]+)/functions/.+/(?P<action>[a-z-]+)$"
)
LAMBDA_ACTIONS = {"STREAM": ("2021-11-15", "response-streaming-invocations"), "BUFFERED": ("2015-03-31", "invocations")}
# API Gateway quotas, "Integration timeout": 50 ms to 29 s by default for every integration type; REGIONAL and
# PRIVATE APIs can raise it (BUFFERED up to 300 s); STREAM integrations may run up to 15 minutes.
TIMEOUT_DEFAULT_MAX_MS = 29_000
TIMEOUT_MAX_MS = {"BUFFERED": 300_000, "STREAM": 900_000}
RAISABLE = ("REGIONAL", "PRIVATE")
# "Stream the integration response for your proxy integrations": only the two proxy types can stream.
STREAMING_TYPES = ("HTTP_PROXY", "AWS_PROXY")
# Lambda takes `repo:tag` or `repo@sha256:…` (CreateFunction ImageUri; pulumi-docker-build#571 shows the
# "Source image … is not valid" answer to `repo:tag@sha256:…`).
TAG_AND_DIGEST = re.compile(r"^[^@]+:[^/@]+@sha256:[0-9a-f]{64}$")
DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


class Refused(Exception):
    """What the AWS API would answer to a request it rejects."""


@dataclass(frozen=True)
class PushedImage:
    # True when the push is an OCI image index (several platforms, or attestations next to the image).
    index: bool
    platforms: tuple[str, ...]


@dataclass
class AwsRules:
    """The state the rules need across resources: pushed images by digest, REST APIs by id."""

    images: dict[str, PushedImage] = field(default_factory=dict)
    endpoint_types: dict[str, str] = field(default_factory=dict)

    def pushed(self, digest: str, image: PushedImage) -> None:
        self.images[digest] = image

    def rest_api(self, api_id: str, endpoint_type: str) -> None:
        self.endpoint_types[api_id] = endpoint_type

    def check(self, typ: str, inputs: dict[str, Any]) -> None:
        if typ == "aws:lambda/function:Function" and inputs.get("packageType") == "Image":
            self._check_image_uri(str(inputs.get("imageUri", "")))
        if typ == "aws:apigateway/integration:Integration":
            self._check_integration(inputs)

    def _check_image_uri(self, uri: str) -> None:
        if TAG_AND_DIGEST.match(uri):
            raise Refused(
                f"InvalidParameterValueException: Source image {uri} is not valid. Provide a valid source image."
            )
        digest = DIGEST.search(uri)
        image = self.images.get(digest.group(1)) if digest else None
        # aws-lambda-roadmap#82: Lambda does not pull through an OCI index (what buildx's default provenance makes).
        if image is not None and image.index:
            raise Refused(
                "InvalidParameterValueException: The image manifest, config or layer media type for the source image "
                f"{uri} is not supported."
            )

    def _check_integration(self, inputs: dict[str, Any]) -> None:
        mode = inputs.get("responseTransferMode", "BUFFERED")
        kind = inputs.get("type")
        if mode == "STREAM" and kind not in STREAMING_TYPES:
            raise Refused(f"BadRequestException: responseTransferMode STREAM is not supported for {kind} integrations")
        uri = LAMBDA_URI.match(str(inputs.get("uri", ""))) if kind == "AWS_PROXY" else None
        if uri and (uri["version"], uri["action"]) != LAMBDA_ACTIONS[mode]:
            version, action = LAMBDA_ACTIONS[mode]
            raise Refused(
                f"BadRequestException: a {mode} Lambda proxy integration must invoke "
                f"lambda:path/{version}/functions/<arn>/{action}, not {uri['version']}/…/{uri['action']}"
            )
        timeout = int(inputs.get("timeoutMilliseconds", TIMEOUT_DEFAULT_MAX_MS))
        endpoint = self.endpoint_types.get(str(inputs.get("restApi")), "REGIONAL")
        high = TIMEOUT_MAX_MS[mode] if mode == "STREAM" or endpoint in RAISABLE else TIMEOUT_DEFAULT_MAX_MS
        if not 50 <= timeout <= high:
            raise Refused(
                f"BadRequestException: Timeout should be between 50 ms and {high} ms for a {mode} integration "
                f"of a {endpoint} API"
            )
