"""Which browser origins may read the answers: Starlette's CORSMiddleware, configured once for every route.

With `*` any origin may (the answer carries `Access-Control-Allow-Origin: *`). With a list, the app echoes the
request's `Origin` when it is on the list, with `Vary: Origin` so caches keep one answer per origin, and answers a
preflight only for those origins (any other gets 400 without CORS headers, so the browser refuses). Credentials
(cookies) are never allowed: callers authenticate with explicit headers. An empty list (`none` in the
environment) lets no browser page read the answers: API clients that are not browsers do not need CORS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

ANY_ORIGIN = "*"
NO_ORIGIN = "none"  # the environment's spelling of an empty list
# scheme://host[:port], as a browser sends it in `Origin` (no path, no trailing slash).
ORIGIN = re.compile(r"^(?:\*|https?://[A-Za-z0-9.-]+(?::\d{1,5})?)$")
METHODS = ("GET", "POST")
# What a browser caller may send: JSON, an API key, a bearer token, SigV4 signing headers, W3C trace context.
HEADERS = (
    "Content-Type",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
    "Traceparent",
    "Tracestate",
)
EXPOSED = ("X-Session-Id",)
PREFLIGHT_MAX_AGE_SECONDS = 600


class OriginListError(ValueError):
    """The origin list is not `*` alone or a list of origins; the message says which entry and why."""


def parse_origins(entries: Iterable[str]) -> tuple[str, ...]:
    """Validated origins: `*` alone, distinct `scheme://host[:port]`s, or none at all."""
    origins = tuple(entry.strip() for entry in entries if entry.strip())
    for origin in origins:
        if not ORIGIN.match(origin):
            raise OriginListError(f"{origin!r} is not an origin like https://app.example.com (no path) or *")
    if ANY_ORIGIN in origins and len(origins) > 1:
        raise OriginListError("* already allows every origin; give * alone or a list of origins")
    if len(set(origins)) != len(origins):
        raise OriginListError("an origin is listed twice")
    return origins


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    return Middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=METHODS,
        allow_headers=HEADERS,
        expose_headers=EXPOSED,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )
