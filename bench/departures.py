"""Hostile traffic against `python -m handler`: clients leaving in crowds, and answers too big to hold.

- close lag: how long after a client hangs up the upstream sees its connection close, for a crowd
  leaving at once (the FIN must not wait for a thread);
- storm: a staying caller's first byte while hundreds of others ask a slow agent and leave at once;
- memory: the app's peak RSS growth for a JSON answer far over the cap, and for an SSE stream as big.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import statistics
import time
from dataclasses import dataclass

import httpx

from bench.measure import _reader, peak_rss_growth
from bench.reader import session_id
from bench.registry import Relay
from tests.fakes import Pause, Repeat
from tests.fakes.agentcore import large_stream, sse, sse_event
from tests.loopback import eventually, send_invoke


@dataclass
class CloseLag:
    p50_ms: float
    max_ms: float
    clients: int


def ask(base: str, n: int) -> socket.socket:
    """A request for an answer on a raw socket, nothing read: leaving is then one close()."""
    body = json.dumps({"prompt": "bench", "session_id": session_id(n)}).encode()
    return send_invoke(base, body, timeout=30)


def close_lag(relay: Relay, clients: int) -> CloseLag:
    """`clients` streams under way, then every client hangs up at once: hang-up -> the fake sees the close."""
    fake = relay.fake
    fake.exchanges.clear()
    fake.respond_with(sse([sse_event({"n": 1}), Pause(120)]))
    # The connection's close alone: a StopRuntimeSession ending the reply first would hide when the
    # close arrived.
    fake.refuse_stops = True
    try:
        return _close_lag(relay, clients)
    finally:
        fake.refuse_stops = False


def _close_lag(relay: Relay, clients: int) -> CloseLag:
    fake = relay.fake
    connections = {}
    for n in range(clients):
        connections[session_id(n)] = ask(relay.base, n)
    for connection in connections.values():
        _read_first_event(connection)
    assert eventually(lambda: len(fake.exchanges) == clients, timeout=30), "not every stream reached the fake"
    left_at = {}
    for session, connection in connections.items():
        # Stamped before the close: close() releases the GIL, and taking it back behind the fake's
        # threads (which wake on these very closes) would stamp late and shorten the lag.
        left_at[session] = time.perf_counter()
        connection.close()
    assert eventually(lambda: all(e.disconnected.is_set() for e in fake.exchanges), timeout=30)
    lags = [
        (exchange.disconnected_at - left_at[_session_of(exchange)]) * 1000  # type: ignore[operator]
        for exchange in fake.exchanges
    ]
    return CloseLag(statistics.median(lags), max(lags), len(lags))


def storm_first_byte(relay: Relay, leaving: int, within: float) -> float:
    """Seconds to a staying caller's first byte after `leaving` callers asked a slow agent and left
    within `within` seconds."""
    fake = relay.fake
    fake.exchanges.clear()
    slow = dataclasses.replace(sse([sse_event({"n": 1})]), delay=60)
    # By session, not by arrival: calls whose client left before their turn never reach the fake.
    fake.respond_by(lambda request: slow if _session_of_request(request).startswith("bench-session") else None)
    fake.respond_with(sse([sse_event({"staying": True})]))
    try:
        storm = [ask(relay.base, n) for n in range(leaving)]
        time.sleep(within)
        for connection in storm:
            connection.close()
        started = time.perf_counter()
        with httpx.stream("POST", relay.base + "/invoke", json={"prompt": "stay"}, timeout=60) as response:
            first = next(response.iter_raw())
        first_byte = time.perf_counter() - started
        assert b"staying" in first, f"the first byte was not the answer's: {first[:80]!r}"
        # Let the stops and the abandoned calls end before the next measure.
        eventually(lambda: all(e.done.is_set() for e in fake.exchanges), timeout=30)
    finally:
        fake.respond_by(None)
    return first_byte


def peak_rss_growth_json(relay: Relay, total: int) -> float:
    """MiB the app's peak RSS grows by while a JSON answer of `total` bytes (over the cap) comes in."""
    fake = relay.fake
    huge = Repeat(b"x" * 65536, total // 65536)
    fake.respond_with(sse([b'{"text": "', huge, b'"}'], content_type="application/json"))

    def ask_once() -> None:
        body = httpx.post(relay.base + "/invoke", json={"prompt": "json"}, timeout=60).content
        assert b"AnswerTooLarge" in body, body[:200]

    return peak_rss_growth(relay.app.pid, ask_once)[0]


def peak_rss_growth_sse(relay: Relay, total: int) -> float:
    """MiB the app's peak RSS grows by while it relays an SSE stream of `total` bytes."""
    relay.fake.respond_with(large_stream(total))
    return peak_rss_growth(relay.app.pid, lambda: _reader("relay", relay.base + "/invoke", str(total)))[0]


def _read_first_event(connection: socket.socket) -> None:
    seen = b""
    while b"data: " not in seen:
        data = connection.recv(4096)
        if not data:
            raise RuntimeError("the app closed the stream before its first event")
        seen += data


def _session_of(exchange) -> str:
    return _session_of_request(exchange.request)


def _session_of_request(request) -> str:
    return request.headers.get("x-amzn-bedrock-agentcore-runtime-session-id", "")
