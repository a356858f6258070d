"""Where an answer comes from. Each backend opens an `Upstream` for one request."""

from __future__ import annotations

from typing import Protocol

from handler.settings import Settings
from handler.upstream import Upstream


class Backend(Protocol):
    name: str

    async def ready(self) -> str | None:
        """Wait until the backend can serve: None then, or why it never will."""
        ...

    async def open(self, prompt: str, session_id: str) -> Upstream:
        """Start the answer; raise `UpstreamError` if it cannot start."""
        ...


def make_backend(settings: Settings) -> Backend:
    # Imported on demand: the demo backend must not pay for (or need) botocore.
    if settings.backend == "agentcore":
        from handler.backends.agentcore import AgentCoreBackend

        return AgentCoreBackend(settings.agent_runtime_arn or "", settings.agent_qualifier, region=settings.aws_region)
    if settings.backend == "bedrock":
        from handler.backends.bedrock import BedrockBackend

        return BedrockBackend(settings.model_id or "", region=settings.aws_region)
    from handler.backends.demo import DemoBackend

    return DemoBackend(settings.demo_token_delay)
