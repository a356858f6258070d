"""Real servers on 127.0.0.1 for the tests: the app under uvicorn, in a thread or as `python -m handler`."""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import httpx
import uvicorn
from starlette.types import ASGIApp

from handler import serving

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


# A port is chosen here and bound later by someone else (a uvicorn thread, a child process), so it must be
# one that nobody else picks in between. The kernel hands out ports from 32768 up to whoever binds port 0
# (every fake) and to outgoing connections, and each pytest-xdist worker picks its own: ports are taken
# below that range, from a block of the worker's own, starting anywhere in it so two runs rarely meet.
_BLOCK, _FIRST_BLOCK, _BLOCKS = 1500, 12000, 13
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % _BLOCKS
_offsets = itertools.count(random.randrange(_BLOCK))


def free_port() -> int:
    """A loopback port nothing listens on, that neither the kernel nor another test worker will hand out."""
    for _ in range(_BLOCK):
        port = _FIRST_BLOCK + _worker * _BLOCK + next(_offsets) % _BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in worker {_worker}'s block")


def address(base: str) -> tuple[str, int]:
    """The (host, port) of a base URL such as `serve_in_thread` yields, for a raw socket."""
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def send_invoke(base: str, body: bytes, http_version: str = "1.1", timeout: float = 10) -> socket.socket:
    """A connection to the app at `base` with a raw `POST /invoke` of `body` (JSON) sent on it, its answer
    unread: the caller decides when to read it, or to leave."""
    connection = socket.create_connection(address(base), timeout=timeout)
    head = f"POST /invoke HTTP/{http_version}\r\nHost: x\r\nContent-Type: application/json\r\n"
    connection.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return connection


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, max_connections: int = 512, idle_seconds: float = 5.0) -> Iterator[str]:
    """Serve `app` under real uvicorn, set up as `python -m handler` sets it up, on loopback; yields its base URL."""
    config = serving.config(app, "127.0.0.1", free_port(), max_connections, idle_seconds, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def serve_process(
    env: Mapping[str, str], argv: list[str] | None = None, ready_path: str = "/healthz"
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run the app as its own process (default `python -m handler`) on a free port until it is ready."""
    port = free_port()
    full_env = {**os.environ, "HOST": "127.0.0.1", **env, "PORT": str(port)}
    process = subprocess.Popen(
        argv or [sys.executable, "-m", "handler"],
        cwd=ROOT,
        env=full_env,
        # Nobody reads the access log here, and an unread pipe fills after 64 KiB: the app would then
        # block on its next log line (500 streams are enough).
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + ready_path, process)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stderr.read()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def timed_chunks(response: httpx.Response) -> list[tuple[float, bytes]]:
    """Each raw chunk of a streamed body with its arrival time (perf_counter)."""
    return [(time.perf_counter(), chunk) for chunk in response.iter_raw()]


def lockstep_chunks(
    response: httpx.Response, seen: Sequence[threading.Event], carries: Callable[[bytes], bool] = lambda _: True
) -> list[tuple[float, bytes]]:
    """`timed_chunks`, setting the next of `seen` as each chunk that `carries` an item arrives: the other
    side of a script that sends item i+1 only after `Until(seen[i])`, so a relay that holds an item back
    shows up as that item arriving after the next one was sent, however loaded the machine is."""
    chunks, items = [], iter(seen)
    for chunk in response.iter_raw():
        chunks.append((time.perf_counter(), chunk))
        if carries(chunk):
            next(items, threading.Event()).set()
    return chunks


def eventually(condition: Callable[[], T], timeout: float = 5) -> T:
    """The first truthy value of `condition()` within `timeout` seconds (other threads fill it in)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.005)
    return value
