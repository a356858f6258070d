"""A whole (not streamed) answer: produced while watching for the client leaving, then sent in one piece.

If the client goes away first, producing it is cancelled, so the model stops rather than finishing an
answer nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from handler.errors import ApiError


class CollectedResponse:
    def __init__(self, produce: Callable[[], Awaitable[Response]], headers: dict[str, str]) -> None:
        self.produce = produce
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        response: Response | None = None
        watch = asyncio.ensure_future(self._watch_disconnect(receive, state))
        produce = asyncio.ensure_future(self._produce(scope))
        try:
            await asyncio.wait((watch, produce), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            produce.cancel()
            await asyncio.wait((watch, produce))
        if produce.cancelled():  # the client left first
            return
        response = produce.result()
        response.headers.update(self.headers)
        await response(scope, receive, send)

    async def _produce(self, scope: Scope) -> Response:
        try:
            return await self.produce()
        except ApiError as refusal:
            return refusal.response(scope=scope)

    @staticmethod
    async def _watch_disconnect(receive: Receive, state: dict[str, Any]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        state["outcome"] = "client_gone"
