"""Who is calling, as API Gateway's authorizer established it, and the AgentCore session that caller may reach.

The identity arrives one of two ways, both set by AWS so a client cannot forge it:
- `request_context` (aws_proxy): Lambda Web Adapter serialises API Gateway's request context into the
  `x-amzn-request-context` header and *inserts* it, replacing any header of that name the client sent
  (aws-lambda-web-adapter src/lib.rs `fetch_response`, `req_headers.insert(...)`).
- `header` (function_url): the integration maps the principal into `CALLER_HEADER` (an
  `integration.request.header.*` parameter mapping), which API Gateway sets over whatever the client sent;
  the origin secret proves the request came through API Gateway at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

# Where each authorizer leaves the principal. The path is both the `$context.…` variable API Gateway maps
# (its parameter-mapping source is `context.<path>`) and the path inside the REST proxy event's
# requestContext, which mirrors those variable names (requestContext.authorizer.claims.sub, …).
PRINCIPALS: dict[str, str] = {
    "cognito": "authorizer.claims.sub",
    "iam": "identity.userArn",
    "lambda": "authorizer.principalId",
}
SOURCES = ("request_context", "header")
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
CALLER_HEADER = "X-Streamgate-Caller"

# Separates scoped session ids from anything else that hashes the same inputs.
_SCOPE = "streamgate/runtime-session/v1"


@dataclass(frozen=True)
class CallerSource:
    """Where the app reads the caller: `authorizer` picks the principal, `via` the way it arrives."""

    authorizer: str
    via: str

    def caller(self, headers: Mapping[str, str]) -> str | None:
        """The authenticated principal, or None if the request carries none (`headers` keys are lower-case)."""
        if self.via == "header":
            return _plain(headers.get(CALLER_HEADER.lower()))
        raw = headers.get(REQUEST_CONTEXT_HEADER)
        if not raw:
            return None
        try:
            value: object = json.loads(raw)
        except ValueError:
            return None
        for part in PRINCIPALS[self.authorizer].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value if isinstance(value, str) else None


def _plain(value: str | None) -> str | None:
    # API Gateway may hand a JWT claim over as JSON text ("\"abc\""): take the string inside.
    if value and len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, str) else value
    return value or None


def scoped_session_id(caller: str | None, session_id: str) -> str:
    """The runtimeSessionId for `caller`'s `session_id`: the same id from two callers names two sessions.

    Without a caller (no authorizer) the client's id is used as is, as before. With one, the id is a
    SHA-256 over both (64 hex characters, inside AgentCore's 33-256), so knowing another caller's
    session_id reaches nothing of theirs.
    """
    if caller is None:
        return session_id
    material = json.dumps([_SCOPE, caller, session_id], separators=(",", ":")).encode()
    return hashlib.sha256(material).hexdigest()
