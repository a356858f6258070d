"""What stands between a client and the app in each integration mode, as far as the caller identity goes.

Models, as an ASGI wrapper in front of the app:
- API Gateway's authorizer: a request whose `Authorization` names no known token is answered 401 and never
  reaches the integration (Cognito/Lambda authorizers; AWS_IAM answers 403, which is the same for the app).
- aws_proxy: API Gateway puts the authorizer's result in the proxy event's requestContext (REST payload:
  `authorizer.claims.sub` for Cognito, `authorizer.principalId` for a Lambda authorizer, `identity.userArn`
  for IAM), and Lambda Web Adapter serialises that context into `x-amzn-request-context` with
  `HeaderMap::insert`, which replaces a client-sent header of that name (aws-lambda-web-adapter
  src/lib.rs, `fetch_response`, checked at 2194417 / v1.0.0-rc1). Every other client header passes through.
- function_url: the HTTP_PROXY integration's request-parameter mappings (`integration.request.header.*`)
  set the origin-secret header and the caller header, replacing what the client sent; every other client
  header passes through. The function URL's own request context (auth NONE) names no caller.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from handler.caller import CALLER_HEADER, PRINCIPALS, REQUEST_CONTEXT_HEADER


class AuthorizingGateway:
    def __init__(
        self,
        app: ASGIApp,
        mode: str,
        authorizer: str,
        principals: dict[str, str],
        origin_secret: tuple[str, str] | None = None,
    ) -> None:
        self.app = app
        self.mode = mode
        self.authorizer = authorizer
        self.principals = principals  # bearer token -> the principal the authorizer resolves it to
        self.origin_secret = origin_secret  # (header, value) the function_url integration adds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        principal = self.principals.get(token)
        if principal is None and scope["method"] != "OPTIONS":
            await _unauthorized(send)
            return
        set_by_aws = self._trusted_headers(principal)
        kept = [(n, v) for n, v in scope["headers"] if n.decode("latin-1").lower() not in set_by_aws]
        added = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in set_by_aws.items()]
        await self.app({**scope, "headers": kept + added}, receive, send)

    def _trusted_headers(self, principal: str | None) -> dict[str, str]:
        if self.mode == "aws_proxy":
            context = {"requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "identity": {}, "authorizer": {}}
            if principal is not None:
                _place(context, PRINCIPALS[self.authorizer], principal)
            return {REQUEST_CONTEXT_HEADER: json.dumps(context)}
        trusted = {REQUEST_CONTEXT_HEADER: json.dumps({"requestId": "fn-url-request", "authorizer": None})}
        if self.origin_secret:
            trusted[self.origin_secret[0].lower()] = self.origin_secret[1]
        if principal is not None:
            trusted[CALLER_HEADER.lower()] = principal
        return trusted


def _place(context: dict, path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        context = context.setdefault(part, {})
    context[leaf] = value


async def _unauthorized(send: Send) -> None:
    body = b'{"message":"Unauthorized"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
