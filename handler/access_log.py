"""One JSON line per request on stdout: what an operator reads in CloudWatch. Never the prompt."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class AccessLog:
    def __init__(self, app: ASGIApp, backend: str, stream: TextIO | None = None) -> None:
        self.app = app
        self.backend = backend
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
            elif message["type"] == "http.response.body" and message.get("body"):
                if record["ttfb_ms"] is None:
                    record["ttfb_ms"] = _ms_since(started)
                record["bytes"] += len(message["body"])
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
            "backend": self.backend,
            "ttfb_ms": record["ttfb_ms"],
            "bytes": record["bytes"],
            "events": state.get("events", 0),
            "duration_ms": _ms_since(started),
            "outcome": state.get("outcome") or _outcome_of(status),
        }
        if "opened" in state:  # "in_grace": today's answer; "committed": 200 and SSE before the upstream opened
            line["opened"] = state["opened"]
        if "error" in state:
            line["error"] = state["error"]
        print(json.dumps(line, separators=(",", ":")), file=self.stream or sys.stdout, flush=True)


def _outcome_of(status: int | None) -> str:
    if status is None or status >= 500:
        return "error"
    return "ok" if status < 400 else "rejected"


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
