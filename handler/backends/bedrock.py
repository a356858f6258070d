"""Bedrock Runtime `ConverseStream`: one SSE event per text delta, then stop reason and usage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from handler import sse
from handler.backends import aws
from handler.upstream import Upstream, UpstreamError


class BedrockBackend:
    name = "bedrock"

    def __init__(self, model_id: str, client: Any = None, region: str | None = None) -> None:
        self._model_id = model_id
        self._client = aws.Client("bedrock-runtime", region, ready=client, warm_up=self._rehearse)

    async def ready(self) -> str | None:
        return await self._client.ready()

    async def open(self, prompt: str, session_id: str) -> Upstream:
        response = await self._client.call(
            "converse_stream", discard=lambda unread: unread["stream"].close(), **self._request(prompt)
        )
        stream = response["stream"]
        events = as_sse(stream)
        # botocore's EventStream hands over each event as its frame arrives; iterating it blocks, so
        # it runs on the body reader's thread like any other upstream body.
        return aws.threaded_body(lambda _size: next(events, b""), stream._raw_stream, sse.MEDIA_TYPE)

    def _request(self, prompt: str) -> dict[str, Any]:
        return {"modelId": self._model_id, "messages": [{"role": "user", "content": [{"text": prompt}]}]}

    def _rehearse(self, client: Any) -> None:
        aws.rehearse(client, "converse_stream", **self._request("warm-up"))


def as_sse(events: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """ConverseStream events as the client's SSE events."""
    summary: dict[str, Any] = {"type": "done"}
    for event in events:
        if "contentBlockDelta" in event:
            text = event["contentBlockDelta"].get("delta", {}).get("text")
            if text:
                yield sse.event({"type": "text", "text": text})
        elif "messageStop" in event:
            summary["stop_reason"] = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            summary["usage"] = event["metadata"].get("usage")
    if "stop_reason" not in summary:
        # botocore ends the iteration quietly when the connection closes between frames.
        raise UpstreamError("UpstreamInterrupted", "the model stream ended before its messageStop event")
    yield sse.event(summary, "done")
