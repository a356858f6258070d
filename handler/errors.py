"""Errors the client sees: JSON `{"error": CODE, "message": ..., "request_id": ...}` with the status that fits.

A client error says what happened and no more: a stable code, a human message, and the request id, which
the access log pairs with the full detail (library messages, endpoint URLs, ARNs). Messages that come
from AWS pass through with ARNs, endpoint URLs and account ids redacted.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler.sse import valid_unicode
from handler.upstream import UpstreamError

REQUEST_CONTEXT_HEADER = b"x-amzn-request-context"

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.detail = detail

    def as_body(self, request_id: str | None = None) -> dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if request_id:
            body["request_id"] = request_id
        return body

    def response(self, headers: dict[str, str] | None = None, scope: Scope | None = None) -> JSONResponse:
        """The JSON answer; with the request's `scope` it carries the request id and leaves the detail
        for the access log."""
        if scope is not None:
            remember(scope.setdefault("state", {}), self.code, self.detail)
        body = self.as_body(request_id(scope) if scope is not None else None)
        return JSONResponse(body, status_code=self.status, headers={**(headers or {}), **self.headers})


class ClientGone(Exception):
    """The client hung up before its request was read: nobody to answer, nothing to report as an error."""


def request_id(scope: Scope) -> str:
    """This request's id, made once: API Gateway's `requestId` when the adapter forwards its request
    context (so the gateway's own logs line up), else a fresh one."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = _gateway_request_id(scope) or uuid.uuid4().hex
    return state["request_id"]


def remember(state: dict, code: str, detail: str | None) -> None:
    """Note the error's code, and what the client was not told, in the request's state for its log line."""
    state["error"] = code
    if detail:
        state["error_detail"] = detail


def _gateway_request_id(scope: Scope) -> str | None:
    raw = next((value for name, value in scope.get("headers", []) if name == REQUEST_CONTEXT_HEADER), None)
    if raw is None:
        return None
    try:
        context = json.loads(raw)
    except ValueError:
        return None
    value = context.get("requestId") if isinstance(context, dict) else None
    return value if isinstance(value, str) and _PLAIN_ID.fullmatch(value) else None


_PLAIN_ID = re.compile(r"[A-Za-z0-9-]{1,128}")

# The upstream's error code (botocore's `Error.Code`) -> what the client gets. Bedrock's event-stream
# exceptions spell the same codes in lower camel case (`throttlingException`).
_UPSTREAM_STATUS = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "resourcenotfoundexception": 404,
    "throttlingexception": 429,
    "servicequotaexceededexception": 429,
    "overloaded": 503,  # ours: no thread left for the call (see calls.NoThread)
}

# What AWS or a library may put in a message that the caller must not see.
_HIDDEN = re.compile(
    r"(?P<url>\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+)"
    r"|(?P<arn>\barn(?::|%3A)[^\s\"'<>,;)]+)"
    r"|(?P<account>(?<![0-9])[0-9]{12}(?![0-9]))",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` without endpoint URLs, ARNs or account ids, and encodable (lone surrogates replaced)."""
    return valid_unicode(_HIDDEN.sub(lambda hit: f"<{hit.lastgroup}>", text))


def from_upstream(failure: UpstreamError) -> ApiError:
    """An upstream failure as the client's error: the mapped status (else 502), the code, and a message
    safe to show; the unredacted detail stays in the access log."""
    status = _UPSTREAM_STATUS.get(failure.code.lower(), 502)
    detail = failure.detail or f"{failure.code}: {failure.message}"
    return ApiError(status, failure.code or "UpstreamError", public_message(failure), detail=detail)


def public_message(failure: UpstreamError) -> str:
    return redact(failure.message) or "the upstream failed"


class InternalErrors:
    """Any failure nobody expected, before the response started: a JSON 500 with the CORS headers and
    the request id, never Starlette's plain-text one; the traceback goes to the function's log."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            log.exception("the request failed")
            if started:
                raise
            failure = ApiError(500, "InternalError", "the app failed; the log has the detail", detail=repr(error))
            await failure.response(self.headers, scope)(scope, receive, send)
