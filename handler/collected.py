"""A whole (not streamed) answer: produced while watching for the client leaving, then sent in one piece.

If the client goes away first, producing it is cancelled, so the model stops rather than finishing an
answer nobody will read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
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
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch_disconnect, receive, group.cancel_scope, state)
            try:
                response = await self.produce()
            except ApiError as refusal:
                response = refusal.response(scope=scope)
            group.cancel_scope.cancel()
        if response is None:
            return
        response.headers.update(self.headers)
        await response(scope, receive, send)

    @staticmethod
    async def _watch_disconnect(receive: Receive, scope: anyio.CancelScope, state: dict[str, Any]) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        state["outcome"] = "client_gone"
        scope.cancel()
