"""Where an answer comes from: an agent relayed as it answers, or a model whose answer is typed events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from handler.contract import AgentRequest, Conversation
from handler.settings import Settings
from handler.upstream import Upstream

if TYPE_CHECKING:  # the event model is a model backend's alone: an agent's app never loads it
    from handler.events import Answer


class _Backend(Protocol):
    name: str

    async def ready(self) -> str | None:
        """Wait until the backend can serve: None then, or why it never will."""
        ...


@runtime_checkable
class AgentBackend(_Backend, Protocol):
    """Its answer's bytes reach the client untouched: the agent's stream format is its own."""

    async def open(self, request: AgentRequest) -> Upstream:
        """Start the answer; raise `UpstreamError` if it cannot start."""
        ...


@runtime_checkable
class ModelBackend(_Backend, Protocol):
    """Its answer is typed events (`handler.events`), which a renderer puts in the client's wire format."""

    # The one model this backend answers with, as GET /v1/models lists it.
    model: str

    async def converse(self, conversation: Conversation) -> Answer:
        """Start the answer; raise `UpstreamError` if it cannot start."""
        ...


Backend = AgentBackend | ModelBackend


def make_backend(settings: Settings) -> Backend:
    # Imported on demand: the demo backend must not pay for (or need) botocore.
    if settings.backend == "agentcore":
        from handler.backends.agentcore import AgentCoreBackend

        return AgentCoreBackend(
            settings.agent_runtime_arn or "",
            settings.agent_qualifier,
            region=settings.aws_region,
            max_answer_bytes=settings.max_answer_bytes,
        )
    if settings.backend == "bedrock":
        from handler.backends.bedrock import BedrockBackend, ModelSettings

        return BedrockBackend(
            settings.model_id or "", ModelSettings.from_settings(settings), region=settings.aws_region
        )
    from handler.backends.demo import DemoBackend

    return DemoBackend(settings.demo_token_delay)
