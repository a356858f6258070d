"""OpenAI's chat-completions wire format: request parsing, `chat.completion.chunk` streams, whole
completions, `/v1/models` and error objects (https://platform.openai.com/docs/api-reference/chat).

Only what maps onto a Bedrock conversation is accepted; anything else is refused naming its field,
never silently dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from handler import contract, events, jsonenc, sse
from handler.errors import ApiError, from_upstream
from handler.upstream import Upstream, UpstreamError
from handler.wire.openai_errors import OpenAIError, as_openai, error_object

OWNER = "streamgate"
# Bedrock's stop reasons as OpenAI's finish reasons; anything else ends normally.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
SYSTEM_ROLES = ("system", "developer")
MESSAGE_ROLES = ("user", "assistant", "tool")
# Parameters that change nothing a client relies on here; accepted and ignored.
IGNORED = frozenset(
    {"user", "metadata", "store", "seed", "service_tier", "prompt_cache_key", "safety_identifier", "logprobs"}
    # Bedrock decides whether calls come together; nothing to switch.
    | {"parallel_tool_calls"}
)
# Parameters whose meaning this endpoint cannot honour: refused, so nobody believes they took effect.
UNSUPPORTED = frozenset(
    {
        "functions",
        "function_call",
        "response_format",
        "audio",
        "modalities",
        "prediction",
        "top_logprobs",
        "logit_bias",
        "frequency_penalty",
        "presence_penalty",
        "reasoning_effort",
        "web_search_options",
    }
)
KNOWN = frozenset(
    {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens"}
    | {"temperature", "top_p", "stop", "n", "tools", "tool_choice"}
)
MAX_STOP_SEQUENCES = 4


def models(model: str) -> dict[str, Any]:
    """`GET /v1/models`: the one model this deployment answers with."""
    return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": OWNER}]}


# -- requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRequest:
    conversation: contract.Conversation
    model: str
    stream: bool = False
    include_usage: bool = False
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


def parse_chat(body: bytes, model: str, limits: contract.Limits) -> ChatRequest:
    """`POST /v1/chat/completions`, validated against this deployment's `model` and limits."""
    try:
        document = contract.parse_object(body)
        return _chat(document, model, limits)
    except ApiError as error:
        raise as_openai(error) from None


def _chat(document: dict[str, Any], model: str, limits: contract.Limits) -> ChatRequest:
    for name in document:
        if name in UNSUPPORTED:
            raise _invalid(name, f"'{name}' is not supported by this endpoint")
        if name not in KNOWN | IGNORED:
            raise _invalid(name, f"unknown parameter '{name}'")
    requested = document.get("model")
    if not isinstance(requested, str) or not requested:
        raise _invalid("model", "'model' is required: a model id from GET /v1/models")
    if requested != model:
        raise OpenAIError(
            404,
            "model_not_found",
            f"the model '{requested}' does not exist here; this deployment answers with '{model}'",
            "model",
        )
    if document.get("n", 1) != 1:
        raise _invalid("n", "'n' must be 1: one choice per request")
    stream = document.get("stream", False)
    if not isinstance(stream, bool):
        raise _invalid("stream", "'stream' must be true or false")
    options = document.get("stream_options") or {}
    if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
        raise _invalid("stream_options", "'stream_options' must be an object like {\"include_usage\": true}")
    system, turns = _messages(document.get("messages"))
    tools = _tools(document.get("tools"))
    contract.check_tools(turns, tools, "messages")
    name = "max_completion_tokens" if "max_completion_tokens" in document else "max_tokens"
    conversation = contract.Conversation(
        turns,
        system,
        max_tokens=contract.max_tokens(document.get(name), limits, name),
        temperature=contract.unit_interval(document.get("temperature"), "temperature"),
        top_p=contract.unit_interval(document.get("top_p"), "top_p"),
        stop_sequences=_stop(document.get("stop")),
        tools=tools,
        tool_choice=_tool_choice(document.get("tool_choice"), tools),
    )
    return ChatRequest(conversation, model, stream, stream and options.get("include_usage", False))


def _messages(value: object) -> tuple[tuple[str, ...], tuple[contract.Turn, ...]]:
    """System and developer messages become system text; tool messages the results in a user turn;
    consecutive user (or assistant) messages one turn."""
    if not isinstance(value, list) or not value:
        raise _invalid("messages", "'messages' must be a non-empty list")
    if len(value) > contract.MAX_TURNS:
        raise _invalid("messages", f"'messages' has {len(value)} messages; at most {contract.MAX_TURNS}")
    system: list[str] = []
    turns: list[contract.Turn] = []
    for position, message in enumerate(value):
        where = f"messages[{position}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in (*SYSTEM_ROLES, *MESSAGE_ROLES):
            raise _invalid(f"{where}.role", f"'{where}.role' must be system, developer, user, assistant or tool")
        if role in SYSTEM_ROLES:
            system.append(_text(message.get("content"), f"{where}.content"))
            continue
        piece = _turn(role, message, where)
        if turns and turns[-1].role == piece.role:
            last = turns[-1]
            piece = contract.Turn(
                piece.role,
                last.texts + piece.texts,
                last.tool_calls + piece.tool_calls,
                last.tool_results + piece.tool_results,
            )
            turns[-1] = piece
        else:
            turns.append(piece)
    if not turns:
        raise _invalid("messages", "'messages' needs at least one user message")
    return tuple(system), contract.check_turns(tuple(turns), "messages")


def _turn(role: str, message: dict[str, Any], where: str) -> contract.Turn:
    content = message.get("content")
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise _invalid(f"{where}.tool_call_id", f"'{where}.tool_call_id' must name the call this answers")
        result = contract.ToolResult(call_id, _text(content, f"{where}.content"))
        return contract.Turn("user", (), tool_results=(result,))
    calls = _tool_calls(message.get("tool_calls"), where) if role == "assistant" else ()
    # An assistant message that only calls tools has no text.
    texts = () if calls and content in (None, "", []) else (_text(content, f"{where}.content"),)
    return contract.Turn(role, texts, calls)


def _tool_calls(value: object, where: str) -> tuple[contract.ToolCall, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _invalid(f"{where}.tool_calls", f"'{where}.tool_calls' must be a list")
    calls = []
    for position, call in enumerate(value):
        at = f"{where}.tool_calls[{position}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call.get("id"), str) or not call["id"]:
            raise _invalid(at, f'\'{at}\' must be {{"id", "type": "function", "function": {{name, arguments}}}}')
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except (TypeError, ValueError):
            arguments = None
        if not isinstance(arguments, dict):
            raise _invalid(f"{at}.function.arguments", f"'{at}.function.arguments' must be a JSON object, as text")
        name = contract.tool_name(function.get("name"), f"{at}.function.name")
        calls.append(contract.ToolCall(call["id"], name, arguments))
    return tuple(calls)


def _tools(value: object) -> tuple[contract.Tool, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value or len(value) > contract.MAX_TOOLS:
        raise _invalid("tools", f"'tools' must be a list of 1 to {contract.MAX_TOOLS} function tools")
    tools = []
    for position, entry in enumerate(value):
        where = f"tools[{position}]"
        function = entry.get("function") if isinstance(entry, dict) else None
        if entry.get("type") != "function" or not isinstance(function, dict):  # type: ignore[union-attr]
            raise _invalid(
                where, f'\'{where}\' must be {{"type": "function", "function": {{name, description, parameters}}}}'
            )
        tool = contract.tool(
            function.get("name"), function.get("description"), function.get("parameters"), f"{where}.function"
        )
        tools.append(tool)
    return tuple(tools)


def _tool_choice(value: object, tools: tuple[contract.Tool, ...]) -> str | None:
    if value is None:
        return None
    if not tools:
        raise _invalid("tool_choice", "'tool_choice' needs 'tools'")
    if value in ("auto", "required"):
        return {"auto": "auto", "required": "any"}[value]  # type: ignore[index]
    name = value.get("function", {}).get("name") if isinstance(value, dict) else None
    if value == "none" or name not in {tool.name for tool in tools}:
        raise _invalid(
            "tool_choice", '\'tool_choice\' must be "auto", "required" or one of the tools ("none": send no tools)'
        )
    return name


def _text(content: object, where: str) -> str:
    """A string, or a list of `{"type": "text", "text": ...}` parts joined."""
    if isinstance(content, list):
        if not all(isinstance(part, dict) and part.get("type") == "text" for part in content):
            raise _invalid(where, f'\'{where}\' may hold only text parts ({{"type": "text", "text": ...}})')
        content = "".join(str(part.get("text", "")) for part in content)
    if not isinstance(content, str) or not content.strip():
        raise _invalid(where, f"'{where}' must be non-empty text")
    return content


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(stop, str) and stop for stop in stops)
    ):
        raise _invalid("stop", f"'stop' must be a string or a list of up to {MAX_STOP_SEQUENCES} strings")
    return tuple(stops)


def _invalid(param: str, message: str) -> OpenAIError:
    return OpenAIError(400, "invalid_request_error", message, param)


# -- answers -------------------------------------------------------------------------------


async def open_answer(converse: Callable[[], Awaitable[events.Answer]]) -> events.Answer:
    """Start the model's answer; its refusal is an OpenAI error with the status that fits."""
    try:
        return await converse()
    except UpstreamError as failure:
        raise as_openai(from_upstream(failure)) from failure


async def open_stream(converse: Callable[[], Awaitable[events.Answer]], chat: ChatRequest) -> Upstream:
    """The answer as `chat.completion.chunk` events for the relay, ending in `data: [DONE]`."""
    answer = await open_answer(converse)
    return Upstream(sse.MEDIA_TYPE, _chunks(answer, chat), answer.close)


def error_event(body: dict[str, str]) -> bytes:
    """A failure once the stream is under way (the relay's `{error, message, request_id}`): the SDKs
    raise an `APIError` on a data line carrying `error`."""
    code, message = body["error"], body["message"]
    status = from_upstream(UpstreamError(code, message)).status
    return sse.event({"error": error_object(status, code, message, request_id=body.get("request_id"))})


async def _chunks(answer: events.Answer, chat: ChatRequest) -> AsyncIterator[bytes]:
    tools = _ToolIndexes()
    yield _chunk(chat, {"role": "assistant", "content": ""})
    async for event in answer.events:
        if isinstance(event, events.Done):
            yield _chunk(chat, {}, FINISH_REASONS.get(event.stop_reason, "stop"))
            if chat.include_usage:
                yield sse.event({**_head(chat), "choices": [], "usage": _usage(event.usage)})
            yield sse.raw_event("[DONE]")
        elif (delta := _delta(event, tools)) is not None:
            yield _chunk(chat, delta)


def _head(chat: ChatRequest) -> dict[str, Any]:
    return {
        "id": chat.id,
        "object": "chat.completion.chunk",
        "created": chat.created,
        "model": chat.model,
        "system_fingerprint": None,
    }


def _chunk(chat: ChatRequest, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    chunk: dict[str, Any] = {**_head(chat), "choices": [choice]}
    if chat.include_usage:
        chunk["usage"] = None  # as OpenAI does: only the last chunk carries usage
    return sse.event(chunk)


class _ToolIndexes:
    """OpenAI numbers tool calls 0, 1, ... in order; Bedrock numbers content blocks."""

    def __init__(self) -> None:
        self._by_block: dict[int, int] = {}

    def new(self, block: int) -> int:
        return self._by_block.setdefault(block, len(self._by_block))

    def of(self, block: int) -> int:
        return self._by_block.get(block, 0)


def _delta(event: events.Event, tools: _ToolIndexes) -> dict[str, Any] | None:
    match event:
        case events.TextDelta(text):
            return {"content": text}
        case events.ReasoningDelta(text):
            return {"reasoning_content": text}
        case events.ToolUseStart(block, tool_use_id, name):
            call = {"id": tool_use_id, "type": "function", "function": {"name": name, "arguments": ""}}
            return {"tool_calls": [{"index": tools.new(block), **call}]}
        case events.ToolUseDelta(block, fragment):
            return {"tool_calls": [{"index": tools.of(block), "function": {"arguments": fragment}}]}
    return None  # a tool call's end says nothing OpenAI's format carries


def _usage(usage: events.Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


async def completion(converse: Callable[[], Awaitable[events.Answer]], chat: ChatRequest) -> Response:
    """`stream: false`: the whole answer as one `chat.completion`; raises an `OpenAIError` if it failed."""
    answer = await open_answer(converse)
    try:
        body = await _collect(answer, chat)
    except UpstreamError as failure:
        raise as_openai(from_upstream(failure)) from failure
    finally:
        await asyncio.shield(answer.close())
    return Response(jsonenc.body(body), media_type="application/json")


async def _collect(answer: events.Answer, chat: ChatRequest) -> dict[str, Any]:
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    done = events.Done("end_turn")
    async for event in answer.events:
        match event:
            case events.TextDelta(part):
                text.append(part)
            case events.ReasoningDelta(part):
                reasoning.append(part)
            case events.ToolUseStart(block, tool_use_id, name):
                calls[block] = {"id": tool_use_id, "type": "function", "function": {"name": name, "arguments": ""}}
            case events.ToolUseDelta(block, fragment) if block in calls:
                calls[block]["function"]["arguments"] += fragment
            case events.Done():
                done = event
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None, "refusal": None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = list(calls.values())
    finish_reason = FINISH_REASONS.get(done.stop_reason, "stop")
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
    result = {
        "id": chat.id,
        "object": "chat.completion",
        "created": chat.created,
        "model": chat.model,
        "system_fingerprint": None,
        "choices": [choice],
    }
    if done.usage is not None:
        result["usage"] = _usage(done.usage)
    return result
