"""`free_port` hands out a port that someone binds later: nothing else may take it in between."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import loopback
from tests.loopback import ROOT, free_port

EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


@pytest.mark.skipif(not EPHEMERAL.exists(), reason="Linux's ephemeral port range")
def test_a_free_port_is_never_one_the_kernel_hands_to_whoever_binds_port_zero():
    lowest_ephemeral = int(EPHEMERAL.read_text().split()[0])
    assert all(free_port() < lowest_ephemeral for _ in range(200))


def ports_of_worker(worker: str) -> set[int]:
    chosen = subprocess.run(
        [sys.executable, "-c", "from tests.loopback import free_port\nfor _ in range(300): print(free_port())"],
        cwd=ROOT,
        env={**os.environ, "PYTEST_XDIST_WORKER": worker},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return {int(port) for port in chosen}


def test_two_test_workers_never_choose_the_same_port():
    first, second = ports_of_worker("gw0"), ports_of_worker("gw1")
    assert len(first) == len(second) == 300
    assert first.isdisjoint(second)


def test_a_port_that_is_taken_is_passed_over(monkeypatch):
    taken = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()
        block_start = loopback._FIRST_BLOCK + loopback._worker * loopback._BLOCK
        monkeypatch.setattr(loopback, "_offsets", itertools.count(taken - block_start))
        assert free_port() == block_start + (taken - block_start + 1) % loopback._BLOCK
