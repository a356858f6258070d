"""The invoke request: read within a size limit, validate, and say exactly what is wrong.

A model backend (bedrock, demo) gets a `Conversation`: a `prompt`, or `messages` as alternating user and
assistant turns, with optional generation settings. An agent (agentcore) gets the request's own JSON
object, less `session_id`: agents define their own input schema.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect, Request

from handler.errors import ApiError, ClientGone

# AgentCore's runtimeSessionId: 33-256 characters; header-safe characters only.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{32,255}")
# W3C Trace Context: version-traceid-parentid-flags, lower-case hex (https://www.w3.org/TR/trace-context/).
TRACE_PARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
MAX_TURNS = 100
MAX_CONVERSATION_CHARS = 200_000
ROLES = ("user", "assistant")
# Bedrock's ToolName (1-64 of letters, digits, '_' and '-'); OpenAI allows the same.
TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_TOOLS = 128
INVOKE_FIELDS = frozenset(
    {"prompt", "messages", "session_id", "max_tokens", "temperature", "top_p", "tools", "tool_choice"}
)


class FieldError(ApiError):
    """A 400 that names the request field (`param`) at fault."""

    def __init__(self, code: str, param: str, message: str) -> None:
        super().__init__(400, code, message)
        self.param = param


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model made earlier in the conversation; `input` is its JSON object."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What the client's tool answered to the call `tool_use_id`."""

    tool_use_id: str
    text: str
    is_error: bool = False


@dataclass(frozen=True)
class Tool:
    """A tool the model may call: its name, what it does, and its input's JSON schema."""

    name: str
    description: str | None
    schema: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    """One message: a user turn may carry tool results, an assistant turn the tool calls it made."""

    role: str
    texts: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()


@dataclass(frozen=True)
class Conversation:
    """What a model is asked: the turns (ending with the user's), the request's own system text (added
    after the stack's `systemPrompt`) and generation settings; None leaves the stack's or model's value."""

    turns: tuple[Turn, ...]
    system: tuple[str, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop_sequences: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    # "auto" (the model decides), "any" (it must call one) or a tool's name; None is the model's default.
    tool_choice: str | None = None

    @property
    def last_user_text(self) -> str:
        return "\n".join(self.turns[-1].texts)


@dataclass(frozen=True)
class Limits:
    """What the stack allows a request: `max_tokens` at most this (None: whatever the model allows)."""

    max_tokens: int | None = None


@dataclass(frozen=True)
class InvokeRequest:
    conversation: Conversation
    session_id: str


@dataclass(frozen=True)
class AgentRequest:
    """An agent's payload and session, and the caller's W3C trace context (forwarded when valid)."""

    payload: dict[str, Any]
    session_id: str
    trace_parent: str | None = None
    trace_state: str | None = field(default=None)


def new_session_id() -> str:
    """A fresh id long enough for AgentCore (>= 33 characters)."""
    return f"{uuid.uuid4()}-{uuid.uuid4().hex[:8]}"


async def read_body(request: Request, limit: int, seconds: float) -> bytes:
    """The request body, refusing with 413 as soon as it is known to exceed `limit` bytes, and with 408
    if it has not all arrived within `seconds` (a body shorter than its Content-Length would
    otherwise hold the connection for ever)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _too_large(limit)
    except ClientDisconnect:
        raise ClientGone from None
    except TimeoutError:
        pass
    else:
        return bytes(body)
    # The rest of the body may still come: the connection cannot carry another request.
    message = f"the body did not arrive within {seconds:g} seconds"
    raise ApiError(408, "RequestTimeout", message, headers={"connection": "close"})


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "InvalidJson", "the body must be a JSON object") from None
    except RecursionError:
        raise ApiError(400, "InvalidJson", "the body is nested too deeply") from None
    if not isinstance(document, dict):
        raise ApiError(400, "InvalidJson", "the body must be a JSON object, not " + type(document).__name__)
    return document


def parse_invoke(body: bytes, limits: Limits) -> InvokeRequest:
    """`POST /invoke` for a model backend."""
    document = parse_object(body)
    unknown = sorted(set(document) - INVOKE_FIELDS)
    if unknown:
        raise FieldError(
            "UnknownField", unknown[0], f"unknown field '{unknown[0]}'; allowed: {', '.join(sorted(INVOKE_FIELDS))}"
        )
    session_id = _session_id(document)
    if "messages" in document:
        if "prompt" in document:
            raise FieldError("InvalidMessages", "messages", "send 'prompt' or 'messages', not both")
        turns = parse_turns(document["messages"])
    else:
        turns = (Turn("user", (_prompt(document.get("prompt")),)),)
    tools = _native_tools(document.get("tools"))
    check_tools(turns, tools, "messages")
    conversation = Conversation(
        turns,
        max_tokens=max_tokens(document.get("max_tokens"), limits, "max_tokens"),
        temperature=unit_interval(document.get("temperature"), "temperature"),
        top_p=unit_interval(document.get("top_p"), "top_p"),
        tools=tools,
        tool_choice=_native_tool_choice(document.get("tool_choice"), tools),
    )
    return InvokeRequest(conversation, session_id)


def parse_agent_request(body: bytes, headers: Mapping[str, str]) -> AgentRequest:
    """`POST /invoke` for an agent: any JSON object; `session_id` is ours, everything else the agent's."""
    payload = parse_object(body)
    session_id = _session_id(payload)
    payload.pop("session_id", None)
    trace_parent = headers.get("traceparent", "").strip().lower()
    if not TRACE_PARENT.fullmatch(trace_parent) or trace_parent.startswith("ff"):
        # The spec says to ignore a malformed traceparent (and its tracestate) rather than refuse the call.
        return AgentRequest(payload, session_id)
    return AgentRequest(payload, session_id, trace_parent, headers.get("tracestate") or None)


def parse_turns(value: object, name: str = "messages") -> tuple[Turn, ...]:
    """`[{"role": "user" | "assistant", "content": "<text>" | [blocks]}, ...]`: alternating, from the user's
    to the user's. Blocks are `text`, `tool_use` (assistant) and `tool_result` (user)."""
    if not isinstance(value, list) or not value:
        raise FieldError("InvalidMessages", name, f"'{name}' must be a non-empty list of {{role, content}} objects")
    if len(value) > MAX_TURNS:
        raise FieldError("InvalidMessages", name, f"'{name}' has {len(value)} messages; at most {MAX_TURNS}")
    turns = []
    for position, message in enumerate(value):
        where = f"{name}[{position}]"
        if not isinstance(message, dict):
            raise FieldError("InvalidMessages", where, f"'{where}' must be an object with 'role' and 'content'")
        role = _role(message.get("role"), position, where)
        turns.append(_native_turn(role, message.get("content"), f"{where}.content"))
    return check_turns(tuple(turns), name)


def _native_turn(role: str, content: object, where: str) -> Turn:
    if isinstance(content, str) and content.strip():
        return Turn(role, (content,))
    allowed = "text and tool_use blocks" if role == "assistant" else "text and tool_result blocks"
    if not isinstance(content, list) or not content:
        raise FieldError("InvalidMessages", where, f"'{where}' must be a non-empty string or a list of {allowed}")
    texts, calls, results = [], [], []
    for position, block in enumerate(content):
        at = f"{where}[{position}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str) and block["text"].strip():
            texts.append(block["text"])
        elif kind == "tool_use" and role == "assistant":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("input"), dict):
                raise FieldError("InvalidMessages", at, f"'{at}' needs an 'id' and an 'input' object")
            calls.append(ToolCall(block["id"], tool_name(block.get("name"), f"{at}.name"), block["input"]))
        elif kind == "tool_result" and role == "user":
            if not isinstance(block.get("tool_use_id"), str) or not isinstance(block.get("content"), str):
                raise FieldError("InvalidMessages", at, f"'{at}' needs a 'tool_use_id' and 'content' text")
            results.append(ToolResult(block["tool_use_id"], block["content"], block.get("is_error") is True))
        else:
            raise FieldError("InvalidMessages", at, f"'{at}' is not one of the {allowed} a {role} message may hold")
    return Turn(role, tuple(texts), tuple(calls), tuple(results))


def _native_tools(value: object) -> tuple[Tool, ...]:
    """`[{"name", "description", "input_schema"}]`, the tools a model may call."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value or len(value) > MAX_TOOLS:
        raise FieldError("InvalidTools", "tools", f"'tools' must be a list of 1 to {MAX_TOOLS} tools")
    if not all(isinstance(entry, dict) for entry in value):
        raise FieldError("InvalidTools", "tools", "'tools' holds {name, description, input_schema} objects")
    return tuple(
        tool(entry.get("name"), entry.get("description"), entry.get("input_schema"), f"tools[{position}]")
        for position, entry in enumerate(value)
    )


def _native_tool_choice(value: object, tools: tuple[Tool, ...]) -> str | None:
    if value is None:
        return None
    if not tools or not (value in ("auto", "any") or value in {entry.name for entry in tools}):
        raise FieldError(
            "InvalidTools", "tool_choice", "'tool_choice' must be 'auto', 'any' or one of the tools' names"
        )
    return value  # type: ignore[return-value]


def check_turns(turns: tuple[Turn, ...], name: str) -> tuple[Turn, ...]:
    """The rules Bedrock's Converse applies, checked before any call: user first and last, roles alternate."""
    if turns[0].role != "user":
        raise FieldError("InvalidMessages", name, f"the first of '{name}' must be a user message")
    if turns[-1].role != "user":
        raise FieldError("InvalidMessages", name, f"the last of '{name}' must be a user message")
    total = sum(_chars(turn) for turn in turns)
    if total > MAX_CONVERSATION_CHARS:
        raise FieldError(
            "InvalidMessages", name, f"'{name}' hold {total} characters of text; at most {MAX_CONVERSATION_CHARS}"
        )
    return turns


def check_tools(turns: tuple[Turn, ...], tools: tuple[Tool, ...], name: str) -> None:
    """Bedrock refuses tool calls or results in a conversation that declares no tools, and results that
    answer no call."""
    calls = {call.id for turn in turns for call in turn.tool_calls}
    results = [result for turn in turns for result in turn.tool_results]
    if (calls or results) and not tools:
        raise FieldError("InvalidTools", "tools", f"'{name}' hold tool calls or results: send the 'tools' they used")
    for result in results:
        if result.tool_use_id not in calls:
            raise FieldError(
                "InvalidMessages",
                name,
                f"a tool result answers '{result.tool_use_id}', which no tool call in '{name}' made",
            )


def tool_name(name: object, where: str, code: str = "InvalidMessages") -> str:
    if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
        raise FieldError(code, where, f"'{where}' must be a tool name: 1-64 letters, digits, '_' or '-'")
    return name


def tool(name: object, description: object, schema: object, where: str) -> Tool:
    """One tool definition, checked as Bedrock's toolSpec would be."""
    name = tool_name(name, f"{where}.name", "InvalidTools")
    if description is not None and (not isinstance(description, str) or not description.strip()):
        raise FieldError("InvalidTools", f"{where}.description", f"'{where}.description' must be non-empty text")
    if schema is None:
        schema = {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise FieldError("InvalidTools", where, f"'{where}' needs a JSON schema object for the tool's input")
    return Tool(name, description, schema)


def _chars(turn: Turn) -> int:
    texts = [*turn.texts, *(result.text for result in turn.tool_results)]
    calls = [json.dumps(call.input) for call in turn.tool_calls]
    return sum(map(len, texts + calls))


def max_tokens(value: object, limits: Limits, name: str) -> int | None:
    """A request may lower the stack's cap on output tokens, never raise it."""
    if value is None:
        return None
    cap = limits.max_tokens
    allowed = f"an integer from 1 to {cap} (this stack's maxTokens)" if cap else "a positive integer"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (cap is not None and value > cap):
        raise FieldError("InvalidMaxTokens", name, f"'{name}' must be {allowed}, not {json.dumps(value)}")
    return value


def unit_interval(value: object, name: str) -> float | None:
    """temperature and top_p: Bedrock's Converse accepts 0 to 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        code = "InvalidTemperature" if name == "temperature" else "InvalidTopP"
        raise FieldError(code, name, f"'{name}' must be a number from 0 to 1, not {json.dumps(value)}")
    return float(value)


def _role(role: object, position: int, where: str) -> str:
    expected = ROLES[position % 2]
    if role != expected:
        raise FieldError(
            "InvalidMessages",
            f"{where}.role",
            f"'{where}.role' must be '{expected}': messages alternate user, assistant, ..., starting with user",
        )
    return expected


def _prompt(prompt: object) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise FieldError("InvalidPrompt", "prompt", "'prompt' must be a non-empty string (or send 'messages')")
    return prompt


def _session_id(document: dict[str, Any]) -> str:
    session_id = document.get("session_id")
    if session_id is None:
        return new_session_id()
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise FieldError(
            "InvalidSessionId",
            "session_id",
            "'session_id' must be 33-256 characters of letters, digits, '-' or '_', starting alphanumeric",
        )
    return session_id


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PayloadTooLarge", f"the body exceeds {limit} bytes")
