"""Bedrock AgentCore: `InvokeAgentRuntime`, relayed byte for byte when the agent streams SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from handler import sse
from handler.backends import aws
from handler.upstream import Upstream


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

    async def open(self, prompt: str, session_id: str) -> Upstream:
        request = self._request(prompt, session_id)
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

    def _request(self, prompt: str, session_id: str) -> dict[str, Any]:
        request: dict[str, Any] = {
            "agentRuntimeArn": self._runtime_arn,
            "runtimeSessionId": session_id,
            "contentType": "application/json",
            "accept": "text/event-stream, application/json",
            "payload": json.dumps({"prompt": prompt}).encode(),
        }
        if self._qualifier:
            request["qualifier"] = self._qualifier
        return request

    def _rehearse(self, client: Any) -> None:
        aws.rehearse(client, "invoke_agent_runtime", **self._request("warm-up", "streamgate-warm-up-" + "0" * 20))


async def _as_one_event(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
    try:
        document = json.loads(body)
    except ValueError:
        document = {"text": body.decode("utf-8", "replace")}
    yield sse.event(document)
