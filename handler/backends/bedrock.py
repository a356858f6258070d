"""Bedrock Runtime `ConverseStream`: a conversation in, typed events out.

Text, reasoning (`reasoningContent`) and tool-use blocks become their own events; `messageStop` and the
`metadata` after it become the one `Done` (or `GuardrailIntervened`) with stop reason, usage and latency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from handler import events
from handler.backends import aws
from handler.contract import Conversation, Turn
from handler.settings import Settings
from handler.upstream import UpstreamError

GUARDRAIL_STOP = "guardrail_intervened"


@dataclass(frozen=True)
class Guardrail:
    identifier: str
    version: str
    stream_mode: str = "sync"


@dataclass(frozen=True)
class ModelSettings:
    """The stack's say in every call; a request may lower `max_tokens` (checked in `handler.contract`)."""

    system_prompt: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    guardrail: Guardrail | None = None
    # Bedrock's additionalModelRequestFields, as the stack wrote them (a JSON object).
    request_fields: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelSettings:
        guardrail = None
        if settings.guardrail_identifier and settings.guardrail_version:
            guardrail = Guardrail(
                settings.guardrail_identifier, settings.guardrail_version, settings.guardrail_stream_mode
            )
        return cls(
            settings.system_prompt,
            settings.max_tokens,
            settings.temperature,
            settings.top_p,
            guardrail,
            settings.model_request_fields,
        )


class BedrockBackend:
    name = "bedrock"

    def __init__(
        self, model_id: str, settings: ModelSettings | None = None, client: Any = None, region: str | None = None
    ) -> None:
        self.model = model_id
        self._settings = settings or ModelSettings()
        self._client = aws.Client("bedrock-runtime", region, ready=client, warm_up=self._rehearse)

    async def ready(self) -> str | None:
        return await self._client.ready()

    async def converse(self, conversation: Conversation) -> events.Answer:
        response = await self._client.call(
            "converse_stream",
            **converse_request(self.model, self._settings, conversation),
            discard=lambda unread: unread["stream"].close(),
        )
        stream = response["stream"]
        # botocore's EventStream hands over each event as its frame arrives; iterating it blocks, so
        # each step runs off the event loop, and closing the raw response wakes a step that waits.
        typed, close = aws.threaded_items(typed_events(stream), stream._raw_stream)
        return events.Answer(typed, close)

    def _rehearse(self, client: Any) -> None:
        warm_up = Conversation((Turn("user", ("warm-up",)),))
        aws.rehearse(client, "converse_stream", **converse_request(self.model, self._settings, warm_up))


def converse_request(model_id: str, settings: ModelSettings, conversation: Conversation) -> dict[str, Any]:
    """The ConverseStream parameters: the request's conversation under the stack's settings."""
    request: dict[str, Any] = {
        "modelId": model_id,
        "messages": [{"role": turn.role, "content": _content(turn)} for turn in conversation.turns],
    }
    if conversation.tools:
        request["toolConfig"] = _tool_config(conversation)
    system = ([settings.system_prompt] if settings.system_prompt else []) + list(conversation.system)
    if system:
        request["system"] = [{"text": text} for text in system]
    inference = {
        "maxTokens": conversation.max_tokens or settings.max_tokens,
        "temperature": _first_set(conversation.temperature, settings.temperature),
        "topP": _first_set(conversation.top_p, settings.top_p),
        "stopSequences": list(conversation.stop_sequences) or None,
    }
    inference = {key: value for key, value in inference.items() if value is not None}
    if inference:
        request["inferenceConfig"] = inference
    if settings.request_fields:
        request["additionalModelRequestFields"] = json.loads(settings.request_fields)
    if settings.guardrail is not None:
        request["guardrailConfig"] = {
            "guardrailIdentifier": settings.guardrail.identifier,
            "guardrailVersion": settings.guardrail.version,
            "streamProcessingMode": settings.guardrail.stream_mode,
        }
    return request


def _content(turn: Turn) -> list[dict[str, Any]]:
    """A turn's content blocks: tool results answer the previous turn's calls first, as Bedrock expects."""
    results = [
        {
            "toolResult": {
                "toolUseId": result.tool_use_id,
                "content": [{"text": result.text}],
                "status": "error" if result.is_error else "success",
            }
        }
        for result in turn.tool_results
    ]
    calls = [{"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.input}} for call in turn.tool_calls]
    return results + [{"text": text} for text in turn.texts] + calls


def _tool_config(conversation: Conversation) -> dict[str, Any]:
    specs = []
    for tool in conversation.tools:
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": tool.schema}}
        if tool.description:
            spec["description"] = tool.description
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    choice = conversation.tool_choice
    if choice in ("auto", "any"):
        config["toolChoice"] = {choice: {}}
    elif choice is not None:
        config["toolChoice"] = {"tool": {"name": choice}}
    return config


def typed_events(stream: Iterable[dict[str, Any]]) -> Iterator[events.Event]:
    """ConverseStream's events (as botocore parses them) as typed events."""
    tool_blocks: set[int] = set()
    stop_reason: str | None = None
    usage: events.Usage | None = None
    latency_ms: int | None = None
    for event in stream:
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            tool = start.get("start", {}).get("toolUse")
            if tool:
                index = start.get("contentBlockIndex", 0)
                tool_blocks.add(index)
                yield events.ToolUseStart(index, tool.get("toolUseId", ""), tool.get("name", ""))
        elif "contentBlockDelta" in event:
            yield from _delta(event["contentBlockDelta"])
        elif "contentBlockStop" in event:
            index = event["contentBlockStop"].get("contentBlockIndex", 0)
            if index in tool_blocks:
                tool_blocks.discard(index)
                yield events.ToolUseStop(index)
        elif "messageStop" in event:
            stop_reason = event["messageStop"].get("stopReason") or "end_turn"
        elif "metadata" in event:
            usage = _usage(event["metadata"].get("usage"))
            latency_ms = event["metadata"].get("metrics", {}).get("latencyMs")
    if stop_reason is None:
        # botocore ends the iteration quietly when the connection closes between frames.
        raise UpstreamError("UpstreamInterrupted", "the model stream ended before its messageStop event")
    if stop_reason == GUARDRAIL_STOP:
        yield events.GuardrailIntervened(usage=usage, latency_ms=latency_ms)
    else:
        yield events.Done(stop_reason, usage, latency_ms)


def _delta(block: dict[str, Any]) -> Iterator[events.Event]:
    delta = block.get("delta", {})
    if delta.get("text"):
        yield events.TextDelta(delta["text"])
    elif "reasoningContent" in delta:
        # A signature or redacted reasoning carries nothing a reader can show.
        if text := delta["reasoningContent"].get("text"):
            yield events.ReasoningDelta(text)
    elif "toolUse" in delta:
        yield events.ToolUseDelta(block.get("contentBlockIndex", 0), delta["toolUse"].get("input", ""))


def _usage(usage: dict[str, int] | None) -> events.Usage | None:
    if not usage:
        return None
    tokens_in, tokens_out = usage.get("inputTokens", 0), usage.get("outputTokens", 0)
    return events.Usage(tokens_in, tokens_out, usage.get("totalTokens", tokens_in + tokens_out))


def _first_set(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)
