"""The invoke request: read within a size limit, validate, and say exactly what is wrong."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect, Request

from handler.errors import ApiError, ClientGone

# AgentCore's runtimeSessionId: 33-256 characters; header-safe characters only.
SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{32,255}")


@dataclass(frozen=True)
class InvokeRequest:
    prompt: str
    session_id: str


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


def parse_invoke(body: bytes) -> InvokeRequest:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "InvalidJson", "the body must be a JSON object") from None
    except RecursionError:
        raise ApiError(400, "InvalidJson", "the body is nested too deeply") from None
    if not isinstance(document, dict):
        raise ApiError(400, "InvalidJson", "the body must be a JSON object, not " + type(document).__name__)
    prompt = document.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "InvalidPrompt", "'prompt' must be a non-empty string")
    session_id = document.get("session_id")
    if session_id is None:
        return InvokeRequest(prompt, new_session_id())
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise ApiError(
            400,
            "InvalidSessionId",
            "'session_id' must be 33-256 characters of letters, digits, '-' or '_', starting alphanumeric",
        )
    return InvokeRequest(prompt, session_id)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PayloadTooLarge", f"the body exceeds {limit} bytes")
