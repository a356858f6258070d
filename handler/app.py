"""The ASGI app: `POST /invoke` streams the answer, `POST /v1/chat/completions` and `GET /v1/models` speak
OpenAI's format (model backends only), `GET /healthz` tells the adapter we are ready, and `GET /` (with
`WEB_UI` on) serves a page that streams answers in a browser."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TextIO, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from handler import contract, sse, warm_up
from handler.access_log import AccessLog
from handler.backends import AgentBackend, Backend, ModelBackend, make_backend
from handler.caller import scoped_session_id
from handler.cors import cors_middleware
from handler.errors import ApiError, ClientGone, InternalErrors
from handler.origin_guard import OriginGuard
from handler.page import serve_page
from handler.relay import RelayResponse
from handler.settings import Settings
from handler.upstream import Upstream
from handler.wire.openai_errors import as_openai, not_here

OPENAI_PREFIX = "/v1/"

# How long one readiness check waits for the backend before it answers 503 (the adapter asks again).
HEALTH_WAIT_SECONDS = 1.0


def create_app(settings: Settings, backend: Backend | None = None, log_stream: TextIO | None = None) -> ASGIApp:
    """The app for `settings`; tests may hand in a `backend` and a stream for the access log."""
    backend = backend or make_backend(settings)
    # Decided once: isinstance() against a runtime-checkable Protocol walks its members on every call.
    model_backend = backend if isinstance(backend, ModelBackend) else None
    if model_backend is not None:
        # The event model and its renderers, which an agent's app never loads.
        from handler import model_routes
    limits = contract.Limits(max_tokens=settings.max_tokens)

    def relay(
        opener: Callable[[], Awaitable[Upstream]],
        headers: dict[str, str],
        error_event: Callable[[dict[str, str]], bytes] = sse.error_event,
    ) -> Response:
        return RelayResponse(  # type: ignore[return-value]
            opener,
            headers,
            settings.heartbeat_seconds,
            # CORS headers come from the middleware, for every response alike.
            error_headers={},
            open_grace_seconds=settings.open_grace_seconds,
            error_event=error_event,
        )

    async def read_body(request: Request) -> bytes:
        return await contract.read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)

    def identify(request: Request) -> str | None:
        """The caller the authorizer established; with an authorizer configured, a request without one is refused."""
        if settings.caller_source is None:
            return None
        caller = settings.caller_source.caller(request.headers)
        if not caller:
            raise ApiError(403, "Forbidden", "the request carries no caller identity")
        request.state.caller = caller
        return caller

    async def invoke(request: Request) -> Response:
        caller = identify(request)
        body = await read_body(request)
        if model_backend is not None:
            session_id, opener = model_routes.invoke_opener(request, model_backend, body, limits)
        else:
            call = contract.parse_agent_request(body, request.headers)
            # The client keeps its own id; upstream, the session is the caller's own.
            scoped = dataclasses.replace(call, session_id=scoped_session_id(caller, call.session_id))
            session_id, opener = call.session_id, partial(cast(AgentBackend, backend).open, scoped)
        request.state.session_id = session_id
        return relay(opener, {"x-session-id": session_id})

    async def chat_completions(request: Request) -> Response:
        model = _model_backend(backend, model_backend)
        try:
            identify(request)
            body = await read_body(request)
        except ApiError as error:
            raise as_openai(error) from None
        return model_routes.chat_completions(request, model, body, limits, relay)

    async def list_models(request: Request) -> Response:
        model = _model_backend(backend, model_backend)
        return JSONResponse(model_routes.models(model))

    async def options(request: Request, methods: str = "POST, OPTIONS") -> Response:
        # A browser's preflight is answered by the CORS middleware; this is any other OPTIONS.
        return Response(status_code=204, headers={"allow": methods})

    async def healthz(request: Request) -> Response:
        # Lambda Web Adapter polls this until it answers below 500: a backend still being made holds the
        # answer (up to HEALTH_WAIT_SECONDS), one that cannot be made fails init (its reason is logged once).
        try:
            async with asyncio.timeout(HEALTH_WAIT_SECONDS):
                problem = await backend.ready()
        except TimeoutError:
            problem = "starting"
        if problem is not None:
            return JSONResponse({"status": "not ready", "backend": backend.name}, status_code=503)
        return JSONResponse({"status": "ok", "backend": backend.name})

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        # The backend's client is made on a thread of its own, and the warm-up waits for it rather than
        # running beside it: two threads loading code at once trade the GIL at every system call, and
        # take longer together than one after the other (make bench's cold start: about 5 % less).
        # A client that cannot be made returns its reason at once: /healthz then answers 503 with it.
        await backend.ready()
        await warm_up.first_request_path()  # before uvicorn serves, so before the first /healthz
        warm_up.settle_heap()
        yield

    async def api_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error.response(scope=request.scope)

    async def client_gone(request: Request, error: Exception) -> Response:
        request.state.outcome = "client_gone"
        # 499, nginx's "client closed request": the server drops it unsent, the access log keeps it.
        return Response(status_code=499)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(error.status_code, "HttpError")
        refusal = ApiError(error.status_code, code, str(error.detail))
        if request.url.path.startswith(OPENAI_PREFIX):
            refusal = as_openai(refusal)
        return refusal.response(headers=error.headers, scope=request.scope)

    middleware = [Middleware(AccessLog, backend=backend.name, namespace=settings.metrics_namespace, stream=log_stream)]
    if settings.origin_verify_secret:
        # Before CORS: only API Gateway gets an answer, preflights included.
        middleware.append(
            Middleware(OriginGuard, header=settings.origin_verify_header, secrets=settings.origin_verify_secrets)
        )
    # Outside InternalErrors, so its 500 carries the CORS headers too.
    middleware += [cors_middleware(settings.cors_allow_origins), Middleware(InternalErrors, headers={})]
    routes = [
        Route("/invoke", invoke, methods=["POST"]),
        Route("/invoke", options, methods=["OPTIONS"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/chat/completions", options, methods=["OPTIONS"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models", partial(options, methods="GET, OPTIONS"), methods=["OPTIONS"]),
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


def _model_backend(backend: Backend, model_backend: ModelBackend | None) -> ModelBackend:
    if model_backend is None:
        raise not_here(backend.name)
    return model_backend


app = create_app(Settings.from_env())
