"""The pack's policies, all mandatory: a violation fails `pulumi preview` and stops `pulumi up`."""

from __future__ import annotations

from pulumi_policy import Policy

from policy.bedrock_access import SCOPED_BEDROCK_ACCESS
from policy.function_urls import GUARDED_FUNCTION_URL
from policy.images import IMAGE_BY_DIGEST
from policy.integrations import INTEGRATION_TIMEOUT, STREAMING_INTEGRATION
from policy.stages import NO_CACHE_WHEN_STREAMING

NAME = "streamgate-streaming"

POLICIES: list[Policy] = [
    STREAMING_INTEGRATION,
    INTEGRATION_TIMEOUT,
    GUARDED_FUNCTION_URL,
    IMAGE_BY_DIGEST,
    SCOPED_BEDROCK_ACCESS,
    NO_CACHE_WHEN_STREAMING,
]
