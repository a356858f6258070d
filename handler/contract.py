"""The invoke request: read within a size limit, validate, and say exactly what is wrong.

A model backend (bedrock, demo) gets a `Conversation`: a `prompt`, or `messages` as alternating user and
assistant turns, with optional generation settings. An agent (agentcore) gets the request's own JSON
object, less `session_id`: agents define their own input schema.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request

from handler.errors import ApiError, ClientGone

# AgentCore's runtimeSessionId: 33-256 characters; header-safe characters only.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{32,255}")
# W3C Trace Context: version-traceid-parentid-flags, lower-case hex (https://www.w3.org/TR/trace-context/).
TRACE_PARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
MAX_TURNS = 100
MAX_CONVERSATION_CHARS = 200_000
ROLES = ("user", "assistant")
INVOKE_FIELDS = frozenset({"prompt", "messages", "session_id", "max_tokens", "temperature", "top_p"})


class FieldError(ApiError):
    """A 400 that names the request field (`param`) at fault."""

    def __init__(self, code: str, param: str, message: str) -> None:
        super().__init__(400, code, message)
        self.param = param


@dataclass(frozen=True)
class Turn:
    role: str
    texts: tuple[str, ...]


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
    with anyio.move_on_after(seconds) as waiting:
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    raise _too_large(limit)
        except ClientDisconnect:
            raise ClientGone from None
        return bytes(body)
    assert waiting.cancelled_caught
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
    conversation = Conversation(
        turns,
        max_tokens=max_tokens(document.get("max_tokens"), limits, "max_tokens"),
        temperature=unit_interval(document.get("temperature"), "temperature"),
        top_p=unit_interval(document.get("top_p"), "top_p"),
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
    """`[{"role": "user" | "assistant", "content": "<text>"}, ...]`: alternating, from the user's to the user's."""
    if not isinstance(value, list) or not value:
        raise FieldError("InvalidMessages", name, f"'{name}' must be a non-empty list of {{role, content}} objects")
    if len(value) > MAX_TURNS:
        raise FieldError("InvalidMessages", name, f"'{name}' has {len(value)} messages; at most {MAX_TURNS}")
    turns = []
    for position, message in enumerate(value):
        where = f"{name}[{position}]"
        if not isinstance(message, dict):
            raise FieldError("InvalidMessages", where, f"'{where}' must be an object with 'role' and 'content'")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise FieldError("InvalidMessages", f"{where}.content", f"'{where}.content' must be a non-empty string")
        turns.append(Turn(_role(message.get("role"), position, where), (content,)))
    return check_turns(tuple(turns), name)


def check_turns(turns: tuple[Turn, ...], name: str) -> tuple[Turn, ...]:
    """The rules Bedrock's Converse applies, checked before any call: user first and last, roles alternate."""
    if turns[0].role != "user":
        raise FieldError("InvalidMessages", name, f"the first of '{name}' must be a user message")
    if turns[-1].role != "user":
        raise FieldError("InvalidMessages", name, f"the last of '{name}' must be a user message")
    total = sum(len(text) for turn in turns for text in turn.texts)
    if total > MAX_CONVERSATION_CHARS:
        raise FieldError(
            "InvalidMessages", name, f"'{name}' hold {total} characters of text; at most {MAX_CONVERSATION_CHARS}"
        )
    return turns


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
