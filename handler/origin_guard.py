"""Keep a public (auth NONE) function URL usable only through API Gateway, which adds a secret header.

During a rotation (`originSecretVersion`) two secrets are good: the new one the next deployment sends, and the
previous one the live deployment still sends until the stage switches.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from handler.errors import ApiError

# The adapter's readiness check comes from inside the sandbox, without the header.
OPEN_PATHS = frozenset({"/healthz"})


class OriginGuard:
    def __init__(self, app: ASGIApp, header: str, secrets: tuple[str, ...]) -> None:
        if not secrets or not all(secrets):
            raise ValueError("the origin guard needs at least one non-empty secret")
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.secrets = tuple(secret.encode() for secret in secrets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS and not self._verified(scope):
            response = ApiError(403, "Forbidden", "requests must come through the API").response(scope=scope)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _verified(self, scope: Scope) -> bool:
        given = next((value for name, value in scope["headers"] if name == self.header), b"")
        # Compare with every secret (no early exit), so the timing says nothing about which one matched.
        matches = [hmac.compare_digest(given, secret) for secret in self.secrets]
        return any(matches)
