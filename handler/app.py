"""The ASGI app: `POST /invoke` streams the answer, `GET /healthz` tells the adapter we are ready, and
`GET /` (with `WEB_UI` on) serves a page that streams answers in a browser."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial
from typing import TextIO

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from handler import contract, warm_up
from handler.access_log import AccessLog
from handler.backends import Backend, make_backend
from handler.errors import ApiError, ClientGone, InternalErrors
from handler.origin_guard import OriginGuard
from handler.page import serve_page
from handler.relay import RelayResponse
from handler.settings import Settings

# How long one readiness check waits for the backend before it answers 503 (the adapter asks again).
HEALTH_WAIT_SECONDS = 1.0


def create_app(settings: Settings, backend: Backend | None = None, log_stream: TextIO | None = None) -> ASGIApp:
    """The app for `settings`; tests may hand in a `backend` and a stream for the access log."""
    backend = backend or make_backend(settings)
    cors = {
        "access-control-allow-origin": settings.cors_allow_origin,
        "access-control-expose-headers": "X-Session-Id",
    }

    async def invoke(request: Request) -> Response:
        body = await contract.read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
        invocation = contract.parse_invoke(body)
        request.state.session_id = invocation.session_id
        headers = {**cors, "x-session-id": invocation.session_id}
        opener = partial(backend.open, invocation.prompt, invocation.session_id)
        return RelayResponse(  # type: ignore[return-value]
            opener,
            headers,
            settings.heartbeat_seconds,
            error_headers=cors,
            open_grace_seconds=settings.open_grace_seconds,
        )

    async def preflight(request: Request) -> Response:
        return Response(
            status_code=204,
            headers={
                **cors,
                "access-control-allow-methods": "POST, OPTIONS",
                "access-control-allow-headers": "Content-Type, Authorization, X-Api-Key",
                "access-control-max-age": "600",
            },
        )

    async def healthz(request: Request) -> Response:
        # Lambda Web Adapter polls this until it answers below 500: a backend still being made holds the
        # answer (up to HEALTH_WAIT_SECONDS), one that cannot be made fails init (its reason is logged once).
        problem = "starting"
        with anyio.move_on_after(HEALTH_WAIT_SECONDS):
            problem = await backend.ready()
        if problem is not None:
            return JSONResponse({"status": "not ready", "backend": backend.name}, status_code=503)
        return JSONResponse({"status": "ok", "backend": backend.name})

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        await warm_up.first_request_path()  # before uvicorn serves, so before the first /healthz
        yield

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error.response(headers=cors, scope=request.scope)

    async def client_gone(request: Request, error: Exception) -> Response:
        request.state.outcome = "client_gone"
        # 499, nginx's "client closed request": the server drops it unsent, the access log keeps it.
        return Response(status_code=499)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(error.status_code, "HttpError")
        refusal = ApiError(error.status_code, code, str(error.detail))
        return refusal.response(headers=error.headers, scope=request.scope)

    middleware = [
        Middleware(AccessLog, backend=backend.name, namespace=settings.metrics_namespace, stream=log_stream),
        Middleware(InternalErrors, headers=cors),
    ]
    if settings.origin_verify_secret:
        middleware.append(
            Middleware(OriginGuard, header=settings.origin_verify_header, secret=settings.origin_verify_secret)
        )
    routes = [
        Route("/invoke", invoke, methods=["POST"]),
        Route("/invoke", preflight, methods=["OPTIONS"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if settings.web_ui:
        routes.append(Route("/", serve_page, methods=["GET"]))
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, ClientGone: client_gone, HTTPException: http_error},
    )


app = create_app(Settings.from_env())
