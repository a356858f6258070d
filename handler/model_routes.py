"""What only a model backend answers: `/invoke` from typed events, OpenAI's chat completions and its
models list. The app imports this for a model backend only, so an agent's app never loads the event
model and the renderers (about 10 ms of a cold start on this machine's Python)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from handler import contract, events
from handler.backends import ModelBackend
from handler.collected import CollectedResponse
from handler.upstream import Upstream
from handler.wire import openai
from handler.wire import sse as native

# How the app relays an opened answer: (opener, headers, error event) -> the streaming response.
Relay = Callable[..., Response]


def invoke_opener(
    request: Request, backend: ModelBackend, body: bytes, limits: contract.Limits
) -> tuple[str, Callable[[], Awaitable[Upstream]]]:
    """`POST /invoke` for a model: the session id, and how to open the answer in the native SSE format."""
    invocation = contract.parse_invoke(body, limits)
    converse = _recorded(request, partial(backend.converse, invocation.conversation))
    return invocation.session_id, partial(_native, converse)


def chat_completions(
    request: Request, backend: ModelBackend, body: bytes, limits: contract.Limits, relay: Relay
) -> Response:
    """`POST /v1/chat/completions`: streamed as chunks, or collected into one completion."""
    chat = openai.parse_chat(body, backend.model, limits)
    converse = _recorded(request, partial(backend.converse, chat.conversation))
    if chat.stream:
        return relay(partial(openai.open_stream, converse, chat), {}, openai.error_event)
    return CollectedResponse(partial(openai.completion, converse, chat), {})  # type: ignore[return-value]


def models(backend: ModelBackend) -> dict[str, Any]:
    return openai.models(backend.model)


async def _native(converse: Callable[[], Awaitable[events.Answer]]) -> Upstream:
    return native.upstream(await converse())


def _recorded(
    request: Request, converse: Callable[[], Awaitable[events.Answer]]
) -> Callable[[], Awaitable[events.Answer]]:
    """`converse`, with the answer's token usage noted for the access log's metrics when it ends."""

    def note(done: events.Done) -> None:
        if done.usage is not None:
            # The shape handler/metrics.py reads: Bedrock's usage block.
            request.state.usage = {"inputTokens": done.usage.input_tokens, "outputTokens": done.usage.output_tokens}

    async def start() -> events.Answer:
        return events.observed(await converse(), note)

    return start
