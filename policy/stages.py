"""No caching on a stage that streams: API Gateway supports no cache with responseTransferMode STREAM, and a cache
would replay one caller's whole answer to the next (API Gateway developer guide, response streaming limits)."""

from __future__ import annotations

from pulumi_policy import PolicyResource

from policy.integrations import INTEGRATION
from policy.kinds import stack_policy
from policy.links import of_type, targets

STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"


def streaming_apis(resources: list[PolicyResource]) -> set[str]:
    return {
        api
        for integration in of_type(resources, INTEGRATION)
        if integration.props.get("responseTransferMode") == "STREAM"
        for api in targets(integration, "restApi")
    }


def caching_problems(resources: list[PolicyResource]) -> list[tuple[str, str]]:
    streaming = streaming_apis(resources)
    problems = [
        (
            f"stage {stage.name} has a cache cluster (cacheClusterEnabled) on a REST API whose integrations "
            "stream: STREAM supports no caching. Turn the cache cluster off.",
            stage.urn,
        )
        for stage in of_type(resources, STAGE)
        if targets(stage, "restApi") & streaming and stage.props.get("cacheClusterEnabled")
    ]
    problems += [
        (
            f"method settings {settings.name} turn on caching (settings.cachingEnabled) on a stage that streams: "
            "STREAM supports no caching. Set cachingEnabled false.",
            settings.urn,
        )
        for settings in of_type(resources, METHOD_SETTINGS)
        if targets(settings, "restApi") & streaming and (settings.props.get("settings") or {}).get("cachingEnabled")
    ]
    return problems


NO_CACHE_WHEN_STREAMING = stack_policy(
    "no-cache-on-streaming-stages",
    "No cache cluster and no method caching on stages of a REST API that streams.",
    caching_problems,
)
