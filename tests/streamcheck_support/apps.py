"""Small ASGI servers streamcheck is tested against, besides the real app."""

from __future__ import annotations

import re

import anyio
from starlette.types import Receive, Scope, Send

from handler import sse
from handler.backends.demo import STORY


def demo_events() -> bytes:
    """The same SSE events the demo backend streams, as one body."""
    tokens = re.findall(r"\S+\s*", STORY)
    events = [sse.event({"type": "text", "text": token}) for token in tokens]
    events.append(sse.event({"type": "done", "stop_reason": "end_turn"}, "done"))
    return b"".join(events)


class BufferingApp:
    """What a buffering hop does to the stream: nothing for `delay` seconds, then the whole body at once."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _drain(receive)
        await anyio.sleep(self.delay)
        body = demo_events()
        headers = [(b"content-type", b"text/event-stream"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ErrorEventApp:
    """A stream that goes well for a while, then fails the way the app reports it: an `error` event."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _drain(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for n in range(12):
            await send({"type": "http.response.body", "body": sse.event({"n": n}), "more_body": True})
            await anyio.sleep(0.03)
        failure = sse.event({"error": "ThrottlingException", "message": "slow down"}, "error")
        await send({"type": "http.response.body", "body": failure})


class RecordingApp:
    """Remembers each request's headers and body; answers with a short SSE stream."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        self.requests.append((headers, await _drain(receive)))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": sse.event({"type": "text", "text": "ok"})})


async def _drain(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
