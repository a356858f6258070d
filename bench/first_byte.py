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
from dataclasses import dataclass

from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import sse, sse_event
from tests.loopback import ROOT, free_port

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/bench-agent"
BASELINE = "import boto3; boto3.client('bedrock-agentcore', region_name='us-east-1')"


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
        fake.respond_with(sse([sse_event({"text": "first"})]))  # instant: the app's own time is measured
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
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", BASELINE], check=True)
    return time.perf_counter() - started


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
            time.sleep(0.001)
        healthy = time.perf_counter()
        # A bare http.client: an HTTP library's own set-up would be counted as the app's.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("POST", "/invoke", body=b'{"prompt": "cold"}', headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        if answer.status != 200 or not answer.read1(1):
            raise RuntimeError(f"the first answer was {answer.status}")
        first = time.perf_counter()
        connection.close()
        return healthy - started, first - started
    finally:
        process.terminate()
        process.wait(10)


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
            return connection.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
