"""The measurements. Each returns plain figures; `bench.__main__` prints them against the targets."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import urllib3

from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import large_stream, sse, sse_event
from tests.loopback import serve_process

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/bench-agent"


def session_id(n: int) -> str:
    return f"bench-session-{n:04d}-" + "0" * 24


@contextlib.contextmanager
def relay_through_app(fake: FakeAgentCore) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m handler` with the agentcore backend, pointed at the fake by its endpoint variable."""
    env = {**fake.env, "BACKEND": "agentcore", "AGENT_RUNTIME_ARN": ARN, "HEARTBEAT_SECONDS": "600"}
    with serve_process(env) as running:
        yield running


@dataclass
class Lag:
    p50_ms: float
    max_ms: float
    events: int


def lags_ms(fake: FakeAgentCore, arrivals: dict[str, list[float]]) -> list[float]:
    """Per event: client arrival minus the moment the fake sent it, matched by session id."""
    lags = []
    for exchange in fake.exchanges:
        exchange.done.wait(5)
        arrived = arrivals.get(exchange.request.headers.get("x-amzn-bedrock-agentcore-runtime-session-id", ""))
        if arrived is not None:
            sent = [at for at, _ in exchange.sent_at]
            lags += [(a - s) * 1000 for a, s in zip(arrived, sent, strict=True)]
    return lags


async def _read_events(client: httpx.AsyncClient, base: str, n: int) -> tuple[str, list[float]]:
    """Arrival time of each whole event (the relay may hand over two that came together as one chunk)."""
    arrivals: list[float] = []
    sid = session_id(n)
    async with client.stream("POST", base + "/invoke", json={"prompt": "bench", "session_id": sid}) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            now = time.perf_counter()
            completed = chunk.count(b"\n\n")
            arrivals += [now] * completed
    return sid, arrivals


def forwarding_lag(base: str, fake: FakeAgentCore, streams: int, events: int, gap: float) -> Lag:
    """`streams` concurrent answers of `events` small events, `gap` seconds apart, through the app."""
    fake.exchanges.clear()
    fake.respond_with(sse([sse_event({"token": i}) for i in range(events)], delay=gap))

    async def run() -> dict[str, list[float]]:
        async with httpx.AsyncClient(timeout=30) as client:
            return dict(await asyncio.gather(*(_read_events(client, base, n) for n in range(streams))))

    lags = lags_ms(fake, asyncio.run(run()))
    return Lag(statistics.median(lags), max(lags), len(lags))


@dataclass
class Throughput:
    direct_mib_s: float
    relay_mib_s: float
    rss_growth_mib: float

    @property
    def ratio(self) -> float:
        return self.relay_mib_s / self.direct_mib_s


def throughput(base: str, app: subprocess.Popen, fake: FakeAgentCore, total: int) -> Throughput:
    fake.respond_with(large_stream(total))
    direct = _timed(lambda: _read_directly(fake, total))
    rss_before = _rss_kib(app.pid, "VmRSS")
    relay = _timed(lambda: _read_through(base, total))
    rss_growth = (_rss_kib(app.pid, "VmHWM") - rss_before) / 1024
    mib = total / 2**20
    return Throughput(mib / direct, mib / relay, rss_growth)


def _read_directly(fake: FakeAgentCore, total: int) -> None:
    """What the app itself does: botocore's call, then read1 on the raw body until it ends."""
    answer = fake.client().invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId=session_id(0), payload=b"{}")
    raw, received = answer["response"]._raw_stream, 0
    while chunk := raw.read1(64 * 1024):
        received += len(chunk)
    assert received == total, f"read {received} of {total} bytes directly"


def _read_through(base: str, total: int) -> None:
    """The same client code as the direct read (urllib3's read1), so the ratio is the relay's alone."""
    response = urllib3.request("POST", base + "/invoke", json={"prompt": "firehose"}, preload_content=False, timeout=60)
    received = 0
    while chunk := response.read1(64 * 1024):
        received += len(chunk)
    response.release_conn()
    assert received == total, f"read {received} of {total} bytes through the app"


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])
