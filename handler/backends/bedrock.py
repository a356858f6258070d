"""Bedrock Runtime `ConverseStream`: one SSE event per text delta, then stop reason and usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any

import anyio

from handler import sse
from handler.backends import aws
from handler.upstream import Upstream, UpstreamError

_END = object()


class BedrockBackend:
    name = "bedrock"

    def __init__(self, model_id: str, client: Any = None) -> None:
        self._model_id = model_id
        self._client = aws.Client("bedrock-runtime", ready=client)

    async def open(self, prompt: str, session_id: str) -> Upstream:
        response = await self._client.call(
            "converse_stream",
            modelId=self._model_id,
            messages=[{"role": "user", "content": [{"text": prompt}]}],
        )
        stream = response["stream"]
        return Upstream(sse.MEDIA_TYPE, _translate(iter(stream)), partial(aws.close_raw, stream._raw_stream))


async def _translate(events: Iterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    summary: dict[str, Any] = {"type": "done"}
    while (event := await _next_event(events)) is not _END:
        if "contentBlockDelta" in event:
            text = event["contentBlockDelta"].get("delta", {}).get("text")
            if text:
                yield sse.event({"type": "text", "text": text})
        elif "messageStop" in event:
            summary["stop_reason"] = event["messageStop"].get("stopReason")
        elif "metadata" in event:
            summary["usage"] = event["metadata"].get("usage")
    yield sse.event(summary, "done")


async def _next_event(events: Iterator[dict[str, Any]]) -> Any:
    from botocore.exceptions import EventStreamError  # loaded by now: the stream came from botocore

    try:
        return await anyio.to_thread.run_sync(next, events, _END, abandon_on_cancel=True)
    except EventStreamError as error:
        details = error.response.get("Error", {})
        raise UpstreamError(details.get("Code", "ModelStreamError"), details.get("Message", "")) from error
    except Exception as error:
        raise UpstreamError("UpstreamInterrupted", f"the model stream broke: {error}") from error
