"""The streaming response: open the upstream, then forward its bytes the moment they arrive.

Three things run side by side for one response: a pump reading the upstream, the writer forwarding
what the pump hands over (or a keep-alive comment when the upstream is quiet), and a watcher for the
client going away — from the moment the upstream is asked, so a closed tab stops it even before its
first byte. Whichever ends the stream cancels the others, and the upstream is always closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from starlette.types import Receive, Scope, Send

from handler import sse
from handler.errors import ApiError, from_upstream
from handler.upstream import Upstream, UpstreamError

log = logging.getLogger(__name__)


class RelayResponse:
    """`open_upstream` failing becomes a JSON error before any byte is sent; after that, an SSE error event."""

    def __init__(
        self,
        open_upstream: Callable[[], Awaitable[Upstream]],
        headers: dict[str, str],
        heartbeat_seconds: float,
        error_headers: dict[str, str],
    ) -> None:
        self.open_upstream = open_upstream
        self.headers = headers
        self.heartbeat_seconds = heartbeat_seconds
        self.error_headers = error_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        state["events"] = 0
        upstream: Upstream | None = None
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope, state)
                try:
                    upstream = await self._open()
                except ApiError as refusal:
                    state["error"] = refusal.code
                    await refusal.response(headers=self.error_headers)(scope, receive, send)
                else:
                    state["outcome"] = "ok"
                    chunks_in, chunks_out = anyio.create_memory_object_stream[bytes | UpstreamError](0)
                    group.start_soon(self._pump, upstream, chunks_in, state)
                    await self._write(upstream.media_type, chunks_out, send, state)
                state["complete"] = True
                group.cancel_scope.cancel()
        except* OSError:
            state["outcome"] = "client_gone"
        finally:
            if upstream is not None:
                with anyio.CancelScope(shield=True):
                    await upstream.close()

    async def _open(self) -> Upstream:
        try:
            return await self.open_upstream()
        except UpstreamError as failure:
            raise from_upstream(failure.code, failure.message) from failure
        except Exception as error:
            log.exception("the upstream could not be opened")
            raise ApiError(502, "InternalError", "the upstream could not be started") from error

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope, state: dict) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        # After the last byte the server reports a disconnect too; only one before it means the client left.
        if not state.get("complete"):
            state["outcome"] = "client_gone"
            scope.cancel()

    async def _pump(self, upstream: Upstream, chunks: ObjectSendStream[bytes | UpstreamError], state: dict) -> None:
        async with chunks:
            try:
                async for chunk in upstream.chunks:
                    if chunk:
                        await chunks.send(chunk)
            except UpstreamError as failure:
                await self._fail(chunks, state, failure)
            except Exception:
                log.exception("the upstream failed mid-stream")
                await self._fail(chunks, state, UpstreamError("InternalError", "the stream failed"))

    @staticmethod
    async def _fail(chunks: ObjectSendStream[bytes | UpstreamError], state: dict, failure: UpstreamError) -> None:
        """What was sent stays sent; the writer tells the client why the answer stops here."""
        state["outcome"] = "upstream_error"
        state["error"] = failure.code
        log.warning("upstream failed mid-stream: %s", failure.code)
        await chunks.send(failure)

    async def _write(
        self, media_type: str, chunks: ObjectReceiveStream[bytes | UpstreamError], send: Send, state: dict
    ) -> None:
        headers = {**self.headers, "content-type": media_type, "cache-control": "no-cache"}
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        position = SsePosition()
        async with chunks:
            while True:
                with anyio.move_on_after(self.heartbeat_seconds) as quiet:
                    try:
                        chunk = await chunks.receive()
                    except anyio.EndOfStream:
                        break
                if quiet.cancelled_caught:
                    chunk = position.keep_alive()
                elif isinstance(chunk, UpstreamError):
                    # The failure may have cut an event short: end it, so the error arrives as its own event.
                    chunk = position.end_event() + sse.event({"error": chunk.code, "message": chunk.message}, "error")
                else:
                    state["events"] = position.feed(chunk)
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        state["complete"] = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class SsePosition:
    """Where the relayed byte stream stands: events completed so far (for the access log), and which
    keep-alive comment fits in now without landing inside another line.

    On a fast stream `feed` runs over every byte relayed, so it hops from newline to newline with
    `bytes.find` (memchr) rather than scanning for a two-byte pattern.
    """

    def __init__(self) -> None:
        self.events = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        # Terminators that straddle the previous chunk are found in a few joined bytes; the chunk
        # itself is searched in place (copying it would cost as much as the search).
        head = self._tail + chunk[:3]
        for newline in range(len(self._tail), len(head)):
            self.events += head[newline] == 10 and _ends_event(head, newline)
        newline = chunk.find(b"\n", 3)
        while newline != -1:
            self.events += _ends_event(chunk, newline)
            newline = chunk.find(b"\n", newline + 1)
        self._tail = (self._tail + chunk)[-3:] if len(chunk) < 3 else chunk[-3:]
        return self.events

    def end_event(self) -> bytes:
        """What ends an event left unfinished: nothing at a boundary, a blank line after a complete line."""
        if self._at_boundary():
            return b""
        return b"\n" if self._tail.endswith(b"\n") else b"\n\n"

    def _at_boundary(self) -> bool:
        return not self._tail or self._tail.endswith(b"\n\n") or self._tail.endswith(b"\n\r\n")

    def keep_alive(self) -> bytes:
        """A comment line: a whole one between events, a line of its own inside an event (SSE ignores
        comment lines there too), nothing mid-line — the upstream paused inside a line and a comment
        there would corrupt it."""
        if self._at_boundary():
            return sse.KEEP_ALIVE
        if self._tail.endswith(b"\n"):
            return sse.KEEP_ALIVE_LINE
        return b""


def _ends_event(data: bytes, newline: int) -> bool:
    """Whether the LF at `newline` completes a blank line (LF LF, or CR LF CR LF)."""
    return data[newline - 1 : newline] == b"\n" or data[max(0, newline - 3) : newline] == b"\r\n\r"
