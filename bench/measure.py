"""The measurements. Each returns plain figures; `bench.__main__` prints them against the targets."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.reader import ARN
from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import large_stream, sse, sse_event
from tests.loopback import ROOT, free_port, wait_ready

T = TypeVar("T")


@contextlib.contextmanager
def relay_through_app(fake: FakeAgentCore) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m handler` with the agentcore backend, pointed at the fake by its endpoint variable.

    Its output goes to a file, as Lambda drains a function's: a pipe nobody reads fills after a few
    hundred access-log lines, and the app would stall writing the next one.
    """
    env = {**fake.env, "BACKEND": "agentcore", "AGENT_RUNTIME_ARN": ARN, "HEARTBEAT_SECONDS": "600"}
    port = free_port()
    with tempfile.TemporaryFile("w+") as output:
        app = subprocess.Popen(
            [sys.executable, "-m", "handler"],
            cwd=ROOT,
            env={**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_ready(base + "/healthz", app)
            except (RuntimeError, AttributeError):  # AttributeError: it exited, and wait_ready wants its stderr
                output.seek(0)
                raise RuntimeError(f"the app did not start: {output.read()[-2000:]}") from None
            yield base, app
        finally:
            app.terminate()
            app.wait(10)


@dataclass
class Lag:
    """Per-event lag (client arrival minus the fake's send), over all events and over those sent
    once every stream was open (the steady state, without the streams' opening)."""

    p50_ms: float
    max_ms: float
    events: int
    steady_p50_ms: float
    steady_max_ms: float
    steady_events: int


def lags_ms(fake: FakeAgentCore, arrivals: dict[str, list[float]]) -> tuple[list[float], list[float]]:
    """Every event's lag, and the lags of events sent after the last stream's first event was sent."""
    timed: list[tuple[float, float]] = []  # (sent at, lag)
    opened: list[float] = []
    for exchange in fake.exchanges:
        exchange.done.wait(5)
        arrived = arrivals.get(exchange.request.headers.get("x-amzn-bedrock-agentcore-runtime-session-id", ""))
        if arrived is not None:
            sent = [at for at, _ in exchange.sent_at]
            opened.append(sent[0])
            timed += [(s, (a - s) * 1000) for a, s in zip(arrived, sent, strict=True)]
    if len(opened) != len(arrivals):
        raise RuntimeError(f"{len(arrivals)} streams read, {len(opened)} answered by the fake")
    all_open = max(opened)
    return [lag for _, lag in timed], [lag for sent, lag in timed if sent > all_open]


def forwarding_lag(base: str, fake: FakeAgentCore, streams: int, events: int, gap: float) -> Lag:
    """`streams` concurrent answers of `events` small events, `gap` seconds apart, through the app,
    read by a client process of its own."""
    fake.exchanges.clear()
    fake.respond_with(sse([sse_event({"token": i}) for i in range(events)], delay=gap))
    every, steady = lags_ms(fake, _reader("events", base + "/invoke", str(streams)))
    if not steady:
        raise RuntimeError(f"none of the {events} events per stream was sent once every stream was open")
    return Lag(statistics.median(every), max(every), len(every), statistics.median(steady), max(steady), len(steady))


@dataclass
class Throughput:
    direct_mib_s: float
    relay_mib_s: float
    rss_growth_mib: float

    @property
    def ratio(self) -> float:
        return self.relay_mib_s / self.direct_mib_s


def throughput(base: str, app: subprocess.Popen, fake: FakeAgentCore, total: int) -> Throughput:
    """`total` bytes read straight from the fake and through the app, each by a reader process of its
    own: a reader in this process would share the fake's GIL and halve the direct figure."""
    fake.respond_with(large_stream(total))
    direct = _reader("direct", str(total), env=fake.env)["seconds"]
    rss_growth, relay = peak_rss_growth(app.pid, lambda: _reader("relay", base + "/invoke", str(total))["seconds"])
    mib = total / 2**20
    return Throughput(mib / direct, mib / relay, rss_growth)


def _reader(*args: str, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "bench.reader", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=float(os.environ.get("BENCH_READER_TIMEOUT", "300")),
    )
    if done.returncode:
        raise RuntimeError(f"bench.reader {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def peak_rss_growth(pid: int, action: Callable[[], T]) -> tuple[float, T]:
    """MiB the peak RSS of process `pid` grows by while `action` runs, and what `action` returned."""
    # Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS (proc(5)), so the peaks of
    # earlier rounds and measures do not count.
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")
    before = _rss_kib(pid, "VmRSS")
    result = action()
    return (_rss_kib(pid, "VmHWM") - before) / 1024, result


def _rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])
