"""The streaming response: forward upstream bytes the moment they arrive, and nothing else waits.

Three things run side by side for one response: a pump reading the upstream, the writer forwarding
what the pump hands over (or a keep-alive comment when the upstream is quiet), and a watcher for the
client going away. Whichever ends the stream cancels the others, and the upstream is always closed.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from starlette.types import Receive, Scope, Send

from handler import sse
from handler.upstream import Upstream, UpstreamError

log = logging.getLogger(__name__)


class RelayResponse:
    def __init__(self, upstream: Upstream, headers: dict[str, str], heartbeat_seconds: float) -> None:
        self.upstream = upstream
        self.heartbeat_seconds = heartbeat_seconds
        self.headers = {**headers, "content-type": upstream.media_type, "cache-control": "no-cache"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        state.update(outcome="ok", events=0)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope, state)
                chunks_in, chunks_out = anyio.create_memory_object_stream[bytes](0)
                group.start_soon(self._pump, chunks_in, state)
                await self._write(chunks_out, send, state)
                group.cancel_scope.cancel()
        except OSError:
            state["outcome"] = "client_gone"
        finally:
            with anyio.CancelScope(shield=True):
                await self.upstream.close()

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope, state: dict) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        # After the last byte the server reports a disconnect too; only one before it means the client left.
        if not state.get("complete"):
            state["outcome"] = "client_gone"
            scope.cancel()

    async def _pump(self, chunks: ObjectSendStream[bytes], state: dict) -> None:
        async with chunks:
            try:
                async for chunk in self.upstream.chunks:
                    if chunk:
                        await chunks.send(chunk)
            except UpstreamError as failure:
                state["outcome"] = "upstream_error"
                state["upstream_error"] = failure.code
                log.warning("upstream failed mid-stream: %s", failure.code)
                await chunks.send(sse.event({"error": failure.code, "message": failure.message}, "error"))

    async def _write(self, chunks: ObjectReceiveStream[bytes], send: Send, state: dict) -> None:
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        counter = _EventCounter()
        async with chunks:
            while True:
                with anyio.move_on_after(self.heartbeat_seconds) as quiet:
                    try:
                        chunk = await chunks.receive()
                    except anyio.EndOfStream:
                        break
                if quiet.cancelled_caught:
                    chunk = sse.KEEP_ALIVE
                else:
                    state["events"] = counter.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        state["complete"] = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _EventCounter:
    """Counts SSE event terminators (a blank line: LF LF or CRLF CRLF) across chunk boundaries.

    On a fast stream this runs over every byte relayed, so it hops from newline to newline with
    `bytes.find` (memchr) rather than scanning for a two-byte pattern.
    """

    def __init__(self) -> None:
        self.count = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        data = self._tail + chunk
        newline = data.find(b"\n", len(self._tail))
        while newline != -1:
            if data[newline - 1 : newline] == b"\n" or data[newline - 3 : newline] == b"\r\n\r":
                self.count += 1
            newline = data.find(b"\n", newline + 1)
        self._tail = data[-3:]
        return self.count
