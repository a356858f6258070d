"""The streaming response: open the upstream, then forward its bytes the moment they arrive.

Three things run side by side for one response: a pump opening and then reading the upstream, the
writer forwarding what the pump hands over (or a keep-alive comment when the upstream is quiet), and a
watcher for the client going away — from the moment the upstream is asked, so a closed tab stops it
even before its first byte. Whichever ends the stream cancels the others, and the upstream is always
closed.

The open grace: an upstream that answers (or refuses) within `open_grace_seconds` gets today's
answer — its stream, or a JSON error with its status. One that is still opening after the grace gets
the response committed at once (200, SSE headers, a comment line), because nothing in front of us
waits for ever for a first byte: CloudFront gives an EDGE origin 30 s, and with HTTP_PROXY API Gateway
has no status to pass on until our headers leave. Keep-alives then cover the rest of the opening, and
a refusal that comes after the commit arrives as an `event: error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from starlette.types import Receive, Scope, Send

from handler import errors, serving, sse
from handler.backends import calls
from handler.baton import TIMED_OUT, Baton
from handler.errors import ApiError, from_upstream
from handler.upstream import Upstream, UpstreamError

log = logging.getLogger(__name__)

# The first bytes of a response committed before the upstream opened: a comment, which SSE clients ignore.
OPENING = b": opening\n\n"

# What the pump hands the writer: first the opened upstream (or why it would not open), then its bytes
# and, should it break, the failure.
Handover = Upstream | ApiError | bytes | UpstreamError


class _Ended:
    """What the writer receives once the pump has handed over everything."""


ENDED = _Ended()


class RelayResponse:
    """`open_upstream` failing within the grace becomes a JSON error; after it, an SSE error event."""

    def __init__(
        self,
        open_upstream: Callable[[], Awaitable[Upstream]],
        headers: dict[str, str],
        heartbeat_seconds: float,
        error_headers: dict[str, str],
        open_grace_seconds: float = 2.0,
        error_event: Callable[[dict[str, str]], bytes] = sse.error_event,
    ) -> None:
        self.open_upstream = open_upstream
        self.headers = headers
        self.heartbeat_seconds = heartbeat_seconds
        self.error_headers = error_headers
        self.open_grace_seconds = open_grace_seconds
        # The stream's wire format says how a failure reads (native `event: error`, or OpenAI's error object).
        self.error_event = error_event

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: dict[str, Any] = scope.setdefault("state", {})
        state["events"] = 0
        errors.request_id(scope)
        opened: list[Upstream] = []  # filled by the pump, so the upstream is closed however we end
        # Where the server offers it, hear of a hang-up at once rather than when `http.disconnect` is read.
        extensions = scope.get("extensions", {})
        extensions.get(serving.ON_DISCONNECT, []).append(partial(_client_left, opened, state))
        if serving.STILL_CONNECTED in extensions:
            calls.CLIENT_CONNECTED.set(extensions[serving.STILL_CONNECTED])
            if not extensions[serving.STILL_CONNECTED]():
                # Read late, its client already gone (a crowd that asks and leaves): start nothing.
                state["outcome"] = "client_gone"
                return
        baton: Baton[Handover | _Ended] = Baton()
        respond = asyncio.ensure_future(self._respond(baton, scope, receive, send, state))
        watch = asyncio.ensure_future(self._watch_disconnect(receive, opened, state))
        pump = asyncio.ensure_future(self._pump(baton, opened, state))
        tasks = (respond, watch, pump)
        try:
            # Until the response is over or the client left; a pump that fails ends it too (it never
            # should: it hands its failures over).
            waiting = set(tasks)
            while respond in waiting and watch in waiting and not _failed(pump):
                _, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            try:
                await asyncio.wait(tasks)
            finally:
                failures = [error for task in tasks if (error := _failure(task)) is not None]
                if any(isinstance(error, OSError) for error in failures):
                    state["outcome"] = "client_gone"
                elif failures:
                    await self._crashed(failures[0], scope, receive, send, state)
                if state.get("outcome") == "client_gone":
                    _abandon(opened, state)
                for upstream in opened:
                    await upstream.close()

    async def _respond(self, baton: Baton, scope: Scope, receive: Receive, send: Send, state: dict) -> None:
        first = await baton.take(self.open_grace_seconds)
        if first is TIMED_OUT:
            first = None
        state["opened"] = "committed" if first is None else "in_grace"
        if isinstance(first, ApiError):
            await first.response(headers=self.error_headers, scope=scope)(scope, receive, send)
        else:
            media_type = first.media_type if isinstance(first, Upstream) else sse.MEDIA_TYPE
            # Committed before the upstream said what it sends: every backend's upstream is SSE.
            await self._start(media_type, send, state)
            _settle(state, "ok")
            await self._write(baton, send, state, first=OPENING if first is None else b"")
        state["complete"] = True

    async def _open(self) -> Upstream:
        try:
            return await self.open_upstream()
        except UpstreamError as failure:
            raise from_upstream(failure) from failure
        except ApiError:  # a refusal the opener phrased itself (e.g. in OpenAI's error shape)
            raise
        except Exception as error:
            log.exception("the upstream could not be opened")
            raise ApiError(502, "InternalError", "the upstream could not be started", detail=repr(error)) from error

    async def _watch_disconnect(self, receive: Receive, opened: list[Upstream], state: dict) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        # After the last byte the server reports a disconnect too; only one before it means the client left.
        if not state.get("complete"):
            _client_left(opened, state)

    async def _pump(self, baton: Baton, opened: list[Upstream], state: dict) -> None:
        try:
            try:
                upstream = await self._open()
            except ApiError as refusal:
                await baton.give(refusal)
                return
            opened.append(upstream)
            await baton.give(upstream)
            try:
                async for chunk in upstream.chunks:
                    if chunk:
                        await baton.give(chunk)
            except UpstreamError as failure:
                if failure.code == "ClientGone":  # heard by the reading thread, before the server did
                    _client_left(opened, state)
                    return
                await self._fail(baton, state, failure)
            except Exception as error:
                log.exception("the upstream failed mid-stream")
                await self._fail(baton, state, UpstreamError("InternalError", "the stream failed", repr(error)))
        finally:
            # Once done giving (a give cut short by cancellation left nothing behind).
            baton.give_nowait(ENDED)

    @staticmethod
    async def _fail(baton: Baton, state: dict, failure: UpstreamError) -> None:
        """What was sent stays sent; the writer tells the client why the answer stops here. A client
        that left cut the stream off itself (its upstream was hung up on): nothing failed."""
        if state.get("outcome") == "client_gone":
            return
        _settle(state, "upstream_error")
        state["error"] = failure.code
        state["error_detail"] = failure.detail or f"{failure.code}: {failure.message}"
        log.warning("upstream failed mid-stream: %s", failure.code)
        await baton.give(failure)

    async def _crashed(self, crash: Exception, scope: Scope, receive: Receive, send: Send, state: dict) -> None:
        """A bug of ours: the client still gets a JSON 500 or, once streaming, an error event and a
        properly ended body; the log gets the traceback."""
        log.error("the relay failed", exc_info=crash)
        failure = ApiError(500, "InternalError", "the app failed; the log has the detail", detail=repr(crash))
        with contextlib.suppress(Exception):
            if not state.get("started"):
                await failure.response(self.error_headers, scope)(scope, receive, send)
            elif not state.get("complete"):
                _settle(state, "upstream_error")
                errors.remember(state, failure.code, failure.detail)
                # Where the stream stood is unknown: a blank line ends any event cut short (and is
                # ignored between events), so the error arrives as an event of its own.
                ending = b"\n\n" + sse.event(_error_event(failure, state), "error")
                await send({"type": "http.response.body", "body": ending, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _start(self, media_type: str, send: Send, state: dict) -> None:
        headers = {**self.headers, "content-type": media_type, "cache-control": "no-cache"}
        raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": raw_headers})
        state["started"] = True

    async def _write(self, baton: Baton, send: Send, state: dict, first: bytes) -> None:
        position = SsePosition()
        if first:
            await send({"type": "http.response.body", "body": first, "more_body": True})
        while True:
            item = await baton.take(self.heartbeat_seconds)
            if item is TIMED_OUT:
                chunk = position.keep_alive()
            else:
                if isinstance(item, _Ended):
                    break
                if isinstance(item, Upstream):  # opened after the commit: its bytes follow
                    continue
                if isinstance(item, ApiError | UpstreamError):
                    if isinstance(item, ApiError):  # refused after the commit: too late for its status
                        _settle(state, "upstream_error")
                        errors.remember(state, item.code, item.detail)
                    # The failure may have cut an event short: end it, so the error arrives as its own event.
                    chunk = position.end_event() + self.error_event(_error_event(item, state))
                else:
                    chunk = item
                    state["events"] = position.feed(chunk)
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        state["complete"] = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _failed(task: asyncio.Future) -> bool:
    return _failure(task) is not None


def _failure(task: asyncio.Future) -> BaseException | None:
    """What `task` raised, if it is over and did not merely end or get cancelled."""
    if not task.done() or task.cancelled():
        return None
    return task.exception()


def _client_left(opened: list[Upstream], state: dict) -> None:
    """The client hung up before the end: that is how the answer went, and the upstream is told now,
    before the cancellation unwinds the stream (when a crowd leaves at once, that unwinding queues up)."""
    if not state.get("complete"):
        state["outcome"] = "client_gone"
        _abandon(opened, state)


def _abandon(opened: list[Upstream], state: dict) -> None:
    """Tell each opened upstream, once, that the client has gone: it stops the work behind the answer."""
    told = state.get("abandoned", 0)
    for upstream in opened[told:]:
        upstream.abandon()
    state["abandoned"] = len(opened)


def _settle(state: dict, outcome: str) -> None:
    """Record how the answer went, unless the client has left already: nothing that happens after
    that (the 200 going out into the void, the upstream failing as it is cut off) makes it `ok`."""
    if state.get("outcome") != "client_gone":
        state["outcome"] = outcome


def _error_event(failure: ApiError | UpstreamError, state: dict) -> dict[str, str]:
    """An ApiError's message is the client's already; an UpstreamError's is redacted first."""
    message = failure.message if isinstance(failure, ApiError) else errors.public_message(failure)
    return {"error": failure.code, "message": message, "request_id": state["request_id"]}


class SsePosition:
    """Where the relayed byte stream stands: events completed so far (for the access log), and which
    keep-alive comment fits in now without landing inside another line.

    An event ends at a blank line: an LF right after LF, or after LF CR. `feed` runs over every byte
    relayed, so it never copies a chunk and finds terminators at C speed (see `_blank_lines`); only
    where one straddles two chunks does it look at single bytes.
    """

    def __init__(self) -> None:
        self.events = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        self.events += _straddling(self._tail, chunk[:2]) + _blank_lines(chunk)
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


# Where lines are long (a firehose of large events) hopping from LF to LF with `find` (memchr) is
# cheapest; where they are short (a token stream) a Python step per line is not, and `bytes.count`
# takes over: when _HOPS hops in a row covered fewer than _HOPS * _DENSE bytes.
_HOPS = 16
_DENSE = 64


def _blank_lines(chunk: bytes) -> int:
    """LFs in `chunk` preceded, within it, by LF or by LF CR."""
    ends, hops, window = 0, 0, 0
    newline = chunk.find(b"\n", 1)
    while newline != -1:
        ends += _ends_event(chunk, newline)
        hops += 1
        if hops == _HOPS:
            rest = newline + 1
            if rest - window < _HOPS * _DENSE:
                # The rest as a chunk of its own, whose tail is what came before it here.
                return ends + _straddling(chunk[rest - 3 : rest], chunk[rest : rest + 2]) + _counted(chunk, rest)
            hops, window = 0, rest
        newline = chunk.find(b"\n", newline + 1)
    return ends


def _counted(chunk: bytes, start: int) -> int:
    """`_blank_lines` of `chunk[start:]` at C speed, without copying it."""
    crlf = chunk.find(b"\r", start) != -1  # memchr: far cheaper than the searches it saves
    if chunk.find(b"\n\n\n", start) != -1 or (crlf and chunk.find(b"\n\r\n\r\n", start) != -1):
        # Runs of blank lines overlap, which `count` (non-overlapping) would undercount: rare, so slow.
        return sum(_ends_event(chunk, i) for i in range(start + 1, len(chunk)) if chunk[i] == 10)
    return chunk.count(b"\n\n", start) + (chunk.count(b"\n\r\n", start) if crlf else 0)


def _straddling(tail: bytes, head: bytes) -> int:
    """Blank lines that start in `tail` (the stream's last bytes) and end in `head` (the next chunk's
    first bytes); those wholly inside the chunk are `_blank_lines`'."""
    joined, start = tail + head, len(tail)
    ends = 0
    for newline in range(max(start, 1), len(joined)):
        if joined[newline] != 10:
            continue
        if joined[newline - 1] == 10:
            ends += newline - 1 < start
        elif joined[newline - 1] == 13 and newline >= 2 and joined[newline - 2] == 10:
            ends += newline - 2 < start
    return ends


def _ends_event(data: bytes, newline: int) -> bool:
    """Whether the LF at `newline` completes a blank line (after LF, or after LF CR)."""
    return data[newline - 1] == 10 or (newline >= 2 and data[newline - 2 : newline] == b"\n\r")
