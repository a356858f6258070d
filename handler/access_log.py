"""One JSON line per request on stdout: what an operator reads in CloudWatch, and (for answer requests) the
request's metrics in embedded metric format (handler/metrics.py). Never the prompt."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler import metrics
from handler.errors import request_id
from handler.relay import OPENING
from handler.sse import KEEP_ALIVE, KEEP_ALIVE_LINE

# Requests for an answer; the adapter's health checks and CORS preflights would only blur the figures.
METERED_METHODS = frozenset({"POST"})
# Time to first byte means the answer's first byte: the comment that commits a slow stream and the
# keep-alives while the model thinks are not.
NOT_CONTENT = frozenset({OPENING, KEEP_ALIVE, KEEP_ALIVE_LINE})


class AccessLog:
    def __init__(
        self,
        app: ASGIApp,
        backend: str,
        namespace: str = metrics.DEFAULT_NAMESPACE,
        stream: TextIO | None = None,
    ) -> None:
        self.app = app
        self.backend = backend
        self.namespace = namespace
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record: dict[str, Any] = {"status": None, "bytes": 0, "ttfb_ms": None}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
            elif message["type"] == "http.response.body" and (body := message.get("body")):
                if record["ttfb_ms"] is None and body not in NOT_CONTENT:
                    record["ttfb_ms"] = _ms_since(started)
                record["bytes"] += len(body)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self._write(scope, record, started)

    def _write(self, scope: Scope, record: dict[str, Any], started: float) -> None:
        state = scope.get("state", {})
        status = record["status"]
        line = {
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "session_id": state.get("session_id"),
            # The authorizer's principal (a user-pool sub, an IAM ARN, a principalId), never a token.
            "caller": state.get("caller"),
            "backend": self.backend,
            "outcome": metrics.outcome_of(state.get("outcome"), status),
            metrics.TIME_TO_FIRST_BYTE: record["ttfb_ms"],
            metrics.DURATION: _ms_since(started),
            metrics.BYTES: record["bytes"],
            metrics.EVENTS: state.get("events", 0),
            **metrics.token_counts(state.get("usage")),
        }
        if "opened" in state:  # "in_grace": today's answer; "committed": 200 and SSE before the upstream opened
            line["opened"] = state["opened"]
        if "error" in state:
            line["error"] = state["error"]
        # What the client was not told, under the id it was given.
        line["request_id"] = request_id(scope)
        if "error_detail" in state:
            line["error_detail"] = state["error_detail"]
        if scope["method"] in METERED_METHODS:
            line = metrics.embed(line, self.namespace)
        print(json.dumps(line, separators=(",", ":")), file=self.stream or sys.stdout, flush=True)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
