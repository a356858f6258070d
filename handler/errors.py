"""Errors the client sees, as JSON `{"error": CODE, "message": ...}` with the status that fits."""

from __future__ import annotations

from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def as_body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(self.as_body(), status_code=self.status, headers={**(headers or {}), **self.headers})


class ClientGone(Exception):
    """The client hung up before its request was read: nobody to answer, nothing to report as an error."""


# The upstream's error code (botocore's `Error.Code`) -> what the client gets.
_UPSTREAM_STATUS = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,
}


def from_upstream(code: str, message: str) -> ApiError:
    """Map an upstream failure to the client's status; anything unexpected is the gateway's 502."""
    status = _UPSTREAM_STATUS.get(code, 502)
    return ApiError(status, code or "UpstreamError", message or "the upstream failed")
