"""What a cold function's first caller waits for: spawn -> first streamed byte of the agentcore backend,
beside the bare `import boto3; boto3.client(...)` it has to beat, and `/healthz` 200 -> first byte
(the part after readiness, which provisioned concurrency cannot pre-pay).

Runs alternate between the app and the baseline, so a load change on a shared machine hits both alike.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import sse, sse_event
from tests.loopback import ROOT, free_port

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/bench-agent"
# The baseline says "." once its client is built: the clock stops there, before the interpreter's shutdown,
# as it stops at the app's first byte.
BASELINE = "; ".join(
    (
        "import sys, boto3",
        "boto3.client('bedrock-agentcore', region_name='us-east-1')",
        "sys.stdout.write('.')",
        "sys.stdout.flush()",
    )
)
# How often Lambda Web Adapter asks `/healthz` while the app starts (`FixedInterval::from_millis(10)` in its
# src/lib.rs). Each ask is a request the starting app serves: asking every millisecond cost it some 25 ms here.
READINESS_INTERVAL = 0.010
# What the fake answers at once, so the first byte counted is the answer's (not, say, a keep-alive comment).
ANSWER = "first"


@dataclass(frozen=True)
class FirstByte:
    """Medians over the runs, in ms."""

    baseline_ms: float
    spawn_to_healthy_ms: float
    spawn_to_first_byte_ms: float
    healthy_to_first_byte_ms: float
    healthy_to_first_byte_runs: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return self.spawn_to_first_byte_ms / self.baseline_ms


def first_byte(runs: int) -> FirstByte:
    with FakeAgentCore() as fake:
        fake.respond_with(sse([sse_event({"text": ANSWER})]))  # instant: the app's own time is measured
        env = {**os.environ, **fake.env, "BACKEND": "agentcore", "AGENT_RUNTIME_ARN": ARN, "HOST": "127.0.0.1"}
        baseline, healthy, spawned, after_health = [], [], [], []
        for _ in range(runs):
            baseline.append(_baseline())
            to_health, to_byte = _cold_first_byte(env)
            healthy.append(to_health)
            spawned.append(to_byte)
            after_health.append(to_byte - to_health)
    ms = [round(value * 1000, 1) for value in after_health]
    return FirstByte(
        statistics.median(baseline) * 1000,
        statistics.median(healthy) * 1000,
        statistics.median(spawned) * 1000,
        statistics.median(after_health) * 1000,
        tuple(ms),
    )


def _baseline() -> float:
    """Seconds from spawn to the bare client built."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", BASELINE], stdout=subprocess.PIPE)
    assert child.stdout is not None
    with child.stdout:
        said = child.stdout.read(1)
    built = time.perf_counter()
    if child.wait(30) or said != b".":
        raise RuntimeError(f"the boto3 baseline failed (exit {child.returncode})")
    return built - started


def _cold_first_byte(env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to the first `/healthz` 200, and to the first byte of an answer asked for at once."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "handler"],
        cwd=ROOT,
        env={**env, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _healthy(port):
            if process.poll() is not None:
                raise RuntimeError("the app exited during cold start")
            time.sleep(READINESS_INTERVAL)
        healthy = time.perf_counter()
        # A bare http.client: an HTTP library's own set-up would be counted as the app's.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/invoke", body=b'{"prompt": "cold"}', headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"the first answer was {answer.status}")
        read_until(answer.read1, ANSWER.encode())
        first = time.perf_counter()
        connection.close()
        return healthy - started, first - started
    finally:
        process.terminate()
        process.wait(10)


def read_until(read1: Callable[[int], bytes], marker: bytes) -> None:
    """Read until `marker` has arrived: the answer's first byte, not whatever may come before it."""
    seen = b""
    while marker not in seen:
        if not (piece := read1(65536)):
            raise RuntimeError(f"the answer ended before {marker!r}: {seen[-200:]!r}")
        seen += piece


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
            return connection.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
