"""Keep a public (auth NONE) function URL usable only through API Gateway, which adds a secret header."""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from handler.errors import ApiError

# The adapter's readiness check comes from inside the sandbox, without the header.
OPEN_PATHS = frozenset({"/healthz"})


class OriginGuard:
    def __init__(self, app: ASGIApp, header: str, secret: str) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self._verified(scope):
            response = ApiError(403, "Forbidden", "requests must come through the API").response(scope=scope)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _verified(self, scope: Scope) -> bool:
        given = next((value for name, value in scope["headers"] if name == self.header), b"")
        return hmac.compare_digest(given, self.secret)
