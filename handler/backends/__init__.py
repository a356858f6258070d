"""Where an answer comes from. Each backend opens an `Upstream` for one request."""

from __future__ import annotations

from typing import Protocol

from handler.settings import Settings
from handler.upstream import Upstream


class Backend(Protocol):
    name: str

    async def open(self, prompt: str, session_id: str) -> Upstream:
        """Start the answer; raise `UpstreamError` if it cannot start."""
        ...


def make_backend(settings: Settings) -> Backend:
    # Imported on demand: the demo backend must not pay for (or need) boto3.
    if settings.backend == "agentcore":
        from handler.backends.agentcore import AgentCoreBackend

        return AgentCoreBackend(settings.agent_runtime_arn or "", settings.agent_qualifier)
    if settings.backend == "bedrock":
        from handler.backends.bedrock import BedrockBackend

        return BedrockBackend(settings.model_id or "")
    from handler.backends.demo import DemoBackend

    return DemoBackend(settings.demo_token_delay)
