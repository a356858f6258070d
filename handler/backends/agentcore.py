"""Bedrock AgentCore: `InvokeAgentRuntime`, relayed byte for byte when the agent streams SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from handler import jsonenc, sse
from handler.backends import aws
from handler.contract import AgentRequest
from handler.upstream import Upstream

# InvokeAgentRuntime's limit on traceState; a longer one is dropped rather than failing the call.
MAX_TRACE_STATE = 512
# The rehearsal carries a trace parent too, so the first traced call finds its headers' path loaded.
WARM_UP_TRACE = "00-" + "0" * 31 + "1-" + "0" * 15 + "1-00"


class AgentCoreBackend:
    name = "agentcore"

    def __init__(
        self, runtime_arn: str, qualifier: str | None = None, client: Any = None, region: str | None = None
    ) -> None:
        self._runtime_arn = runtime_arn
        self._qualifier = qualifier
        self._client = aws.Client("bedrock-agentcore", region, ready=client, warm_up=self._rehearse)

    async def ready(self) -> str | None:
        return await self._client.ready()

    async def open(self, agent_request: AgentRequest) -> Upstream:
        request = self._request(agent_request)
        response = await self._client.call(
            "invoke_agent_runtime", discard=lambda unread: unread["response"].close(), **request
        )
        raw = response["response"]._raw_stream
        body = aws.threaded_body(raw.read1, raw, sse.MEDIA_TYPE)
        if response.get("contentType", "").startswith(sse.MEDIA_TYPE):
            return body
        # A non-streaming agent answers once; it still reaches the client as one SSE event so the
        # client reads a single format whichever way the agent answers.
        return Upstream(sse.MEDIA_TYPE, _as_one_event(body.chunks), body.close)

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


async def _as_one_event(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
    try:
        document = json.loads(body)
    except ValueError:
        document = {"text": body.decode("utf-8", "replace")}
    yield sse.event(document)
