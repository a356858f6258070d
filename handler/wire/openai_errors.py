"""OpenAI's error objects, `{"error": {"message", "type", "param", "code"}}`, for any refusal of ours on a
`/v1/` path.

Apart from the renderer (`handler.wire.openai`): an agent backend's app answers `/v1/` with these too,
and must not load the event model and renderer to do it.
"""

from __future__ import annotations

from typing import Any

from handler.errors import ApiError

# OpenAI's error `type` for each status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIError(ApiError):
    """An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self, status: int, code: str, message: str, param: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, code, message, headers)
        self.param = param

    def as_body(self, request_id: str | None = None) -> dict[str, Any]:  # type: ignore[override]
        return {"error": error_object(self.status, self.code, self.message, self.param, request_id)}


def error_object(
    status: int, code: str, message: str, param: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    error = {"message": message, "type": kind, "param": param, "code": code}
    if request_id:
        error["request_id"] = request_id  # pairs the client's error with the access log's detail
    return error


def as_openai(error: ApiError) -> OpenAIError:
    """Any refusal of ours, in OpenAI's shape, with the field at fault when we know it."""
    if isinstance(error, OpenAIError):
        return error
    converted = OpenAIError(error.status, error.code, error.message, getattr(error, "param", None), error.headers)
    converted.detail = error.detail
    return converted


def not_here(backend: str) -> OpenAIError:
    return OpenAIError(
        404,
        "NotFound",
        f"the {backend} backend has no OpenAI-compatible endpoint: an agent's stream format is its own; "
        "use POST /invoke",
    )
