"""Bedrock AgentCore: `InvokeAgentRuntime`, relayed byte for byte when the agent streams SSE.

An agent that answers otherwise still reaches the client as SSE: plain text as text events the moment it
arrives, a JSON document as one event once it is whole — held up to `max_answer_bytes`, so one huge answer
cannot exhaust the function's memory.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from handler import jsonenc, sse
from handler.backends import aws
from handler.contract import AgentRequest
from handler.upstream import Upstream, UpstreamError

DEFAULT_MAX_ANSWER_BYTES = 8 * 1024 * 1024

# InvokeAgentRuntime's limit on traceState; a longer one is dropped rather than failing the call.
MAX_TRACE_STATE = 512
# The rehearsal carries a trace parent too, so the first traced call finds its headers' path loaded.
WARM_UP_TRACE = "00-" + "0" * 31 + "1-" + "0" * 15 + "1-00"


class AgentCoreBackend:
    name = "agentcore"

    def __init__(
        self,
        runtime_arn: str,
        qualifier: str | None = None,
        client: Any = None,
        region: str | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        self._runtime_arn = runtime_arn
        self._qualifier = qualifier
        self._max_answer_bytes = max_answer_bytes
        self._client = aws.Client("bedrock-agentcore", region, ready=client, warm_up=self._rehearse)

    async def ready(self) -> str | None:
        return await self._client.ready()

    async def open(self, agent_request: AgentRequest) -> Upstream:
        request = self._request(agent_request)
        stop = partial(self._stop, agent_request.session_id)
        # A client that leaves before the agent's first byte leaves an agent at work all the same.
        response, body = await self._client.call_with_body(
            "invoke_agent_runtime",
            body_of=lambda answer: answer["response"]._raw_stream,
            media_type=sse.MEDIA_TYPE,
            abandoned=stop,
            **request,
        )
        content_type = response.get("contentType", "")
        if content_type.startswith(sse.MEDIA_TYPE):
            chunks = body.chunks
        elif content_type.startswith("text/"):
            chunks = _as_text_events(body.chunks)
        else:
            chunks = _as_one_event(body.chunks, self._max_answer_bytes)
        return Upstream(sse.MEDIA_TYPE, chunks, body.close, abandon=partial(_both, body.abandon, stop))

    def _stop(self, session_id: str) -> None:
        """StopRuntimeSession: the agent stops running (and calling models) for a client that left."""
        request = {"agentRuntimeArn": self._runtime_arn, "runtimeSessionId": session_id}
        if self._qualifier:
            request["qualifier"] = self._qualifier
        self._client.fire("stop_runtime_session", **request)

    def _request(self, agent_request: AgentRequest) -> dict[str, Any]:
        request: dict[str, Any] = {
            "agentRuntimeArn": self._runtime_arn,
            "runtimeSessionId": agent_request.session_id,
            "contentType": "application/json",
            "accept": "text/event-stream, application/json",
            "payload": jsonenc.body(agent_request.payload),
        }
        if self._qualifier:
            request["qualifier"] = self._qualifier
        if agent_request.trace_parent:
            request["traceParent"] = agent_request.trace_parent
            if agent_request.trace_state and len(agent_request.trace_state) <= MAX_TRACE_STATE:
                request["traceState"] = agent_request.trace_state
        return request

    def _rehearse(self, client: Any) -> None:
        warm_up = AgentRequest({"prompt": "warm-up"}, "streamgate-warm-up-" + "0" * 20, WARM_UP_TRACE)
        aws.rehearse(client, "invoke_agent_runtime", **self._request(warm_up))


def _both(first: Callable[[], None], then: Callable[[], None]) -> None:
    first()
    then()


async def _as_text_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """`{"text": ...}` events as the text arrives; a character split between two reads waits for its end."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    async for chunk in chunks:
        if text := decoder.decode(chunk):
            yield sse.event({"text": text})
    if text := decoder.decode(b"", final=True):
        yield sse.event({"text": text})


async def _as_one_event(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The whole answer as one event: its JSON (on one line), or `{"text": ...}` if it is not JSON."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            # Raised while the rest is unread: the relay closes the connection, the agent's answer stops.
            raise UpstreamError("AnswerTooLarge", f"the agent's answer is larger than {limit} bytes")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        document = {"text": body.decode("utf-8", "replace")}
    yield sse.event(document)
