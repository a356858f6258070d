"""Lambda image functions run a digest, never a tag: a tag can move under the function, and a new build under the
same tag would not change the function at all. Lambda also rejects `repo:tag@sha256:…` (CreateFunction's ImageUri)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from policy.kinds import resource_policy

FUNCTION = "aws:lambda/function:Function"
BY_DIGEST = re.compile(r"^(?P<repository>[^@\s]+)@sha256:[0-9a-f]{64}$")


def image_problem(name: str, image_uri: str) -> str | None:
    match = BY_DIGEST.match(image_uri)
    if match is None:
        return (
            f"function {name} runs the image {image_uri or '(none)'} by tag: deploy it by digest "
            "(<repository>@sha256:<64 hex>), so every build changes the function and nothing moves under it."
        )
    last_segment = match["repository"].rsplit("/", 1)[-1]
    if ":" in last_segment:
        return (
            f"function {name} names its image with both a tag and a digest ({image_uri}): Lambda rejects "
            "tag@digest references. Drop the tag: <repository>@sha256:<64 hex>."
        )
    return None


def _problems(name: str, resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != FUNCTION or props.get("packageType") != "Image":
        return []
    problem = image_problem(name, props.get("imageUri") or "")
    return [problem] if problem else []


IMAGE_BY_DIGEST = resource_policy(
    "image-by-digest",
    "Lambda image functions are deployed by digest (repository@sha256:…), never by tag.",
    _problems,
)
