"""One invoke request, timed: when the headers came, and when and how big each piece of the body was."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from streamcheck import sse
from streamcheck.verdict import Sample

# Adds authentication headers for (method, url, headers, body); see streamcheck.sigv4.
Signer = Callable[[str, str, dict[str, str], bytes], dict[str, str]]

# The headers a reader of the report needs to decide what happened on the way.
HEADERS_THAT_MATTER = ("Content-Type", "X-Session-Id", "Transfer-Encoding", "Content-Length")


class ProbeError(Exception):
    """The request could not be made or answered at all (as opposed to a non-200 answer)."""


@dataclass
class ProbeResult:
    url: str
    status: int
    headers: dict[str, str]
    samples: list[Sample]
    headers_s: float
    total_s: float
    body: bytes = field(repr=False)

    @property
    def ttfb_s(self) -> float | None:
        """Request sent to first body byte: what a reader waits before seeing anything."""
        return self.samples[0][0] if self.samples else None

    @property
    def received(self) -> int:
        return len(self.body)

    @property
    def events(self) -> int:
        return count_events(self.body)

    @property
    def error_event(self) -> sse.ErrorEvent | None:
        return sse.first_error(self.body)


def check_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL; a bare origin gets the app's `/invoke` path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeError(f"not an http(s) URL: {url!r}")
    if parts.path in ("", "/"):
        return parts._replace(path="/invoke").geturl()
    return url


def invoke_body(prompt: str, session_id: str | None) -> bytes:
    document: dict[str, str] = {"prompt": prompt}
    if session_id:
        document["session_id"] = session_id
    return json.dumps(document).encode()


def probe(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    signer: Signer | None = None,
) -> ProbeResult:
    """POST `body` to `url` and record each chunk's arrival; raises ProbeError when there is no answer."""
    request_headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        **headers,
    }
    if signer:
        request_headers = signer("POST", url, request_headers, body)
    samples: list[Sample] = []
    pieces: list[bytes] = []
    try:
        with httpx.Client(timeout=timeout) as client:
            started = time.perf_counter()
            with client.stream("POST", url, content=body, headers=request_headers) as response:
                headers_s = time.perf_counter() - started
                # iter_raw: the bytes as the network delivered them, before any decoding regroups them.
                for piece in response.iter_raw():
                    if piece:
                        samples.append((time.perf_counter() - started, len(piece)))
                        pieces.append(piece)
            total_s = time.perf_counter() - started
    except httpx.TimeoutException:
        raise ProbeError(f"no answer from {url} within {timeout:g} s (--timeout)") from None
    except httpx.ConnectError as error:
        raise ProbeError(f"cannot connect to {_origin(url)}: {_reason(error)}") from None
    except httpx.HTTPError as error:
        raise ProbeError(f"request to {url} failed: {_reason(error)}") from None
    return ProbeResult(
        url=url,
        status=response.status_code,
        headers={name: response.headers[name] for name in HEADERS_THAT_MATTER if name in response.headers},
        samples=samples,
        headers_s=headers_s,
        total_s=total_s,
        body=b"".join(pieces),
    )


def count_events(body: bytes) -> int:
    """SSE events carrying data (keep-alive comments are not events)."""
    return sum(1 for _ in sse.events(body))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _reason(error: Exception) -> str:
    # httpx wraps OS errors as "[Errno 111] Connection refused"; the reader needs the words.
    text = str(error) or type(error).__name__
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else text
