"""`python -m handler` tells glibc's allocator to keep freed megabytes: a fast answer goes through
megabyte buffers one after another, and memory handed back to the kernel in between is faulted back in
page by page on the next read."""

from __future__ import annotations

import ctypes
import json
import platform
import subprocess
import sys

import pytest

from handler import allocator
from tests.loopback import ROOT

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's settings are glibc's")

# In a fresh interpreter: what re-allocating 6 MiB of freed megabyte buffers costs in page faults.
REUSE = """
import json, resource, sys
from handler import allocator

tuned = allocator.keep_buffers()

def faults_to_fill(megabytes):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [b"x" * 2**20 for _ in range(megabytes)]  # written through: every page is touched
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del buffers
    return after - before

rounds = [faults_to_fill(6) for _ in range(3)]
json.dump({"tuned": tuned, "faults": rounds}, sys.stdout)
"""


def reuse(env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", REUSE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True
    )
    return json.loads(done.stdout)


@glibc
def test_freed_megabytes_are_reused_without_faulting_them_in_again():
    tuned = reuse({"PATH": ""})
    assert tuned["tuned"] is True
    pages = 6 * 2**20 // 4096
    assert tuned["faults"][0] >= pages / 2, "the first fill has to fault its pages in"
    assert max(tuned["faults"][1:]) < pages / 10, tuned


@glibc
def test_glibcs_defaults_hand_them_back_and_fault_them_in_again():
    """What the settings are for: without them every fill after the first pays for its pages again."""
    untouched = reuse({"PATH": "", "GLIBC_TUNABLES": ""})
    assert untouched["tuned"] is False
    assert min(untouched["faults"][1:]) > 6 * 2**20 // 4096 / 2, untouched


@pytest.mark.parametrize("variable", allocator.OPERATORS_OWN)
def test_the_operators_own_allocator_settings_win(variable, monkeypatch):
    monkeypatch.setenv(variable, "4")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: pytest.fail("mallopt called over the operator's settings"))
    assert allocator.keep_buffers() is False


def test_a_libc_without_mallopt_keeps_its_own_ways(monkeypatch):
    for variable in allocator.OPERATORS_OWN:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())  # macOS: no such symbol
    assert allocator.keep_buffers() is False


def test_a_libc_that_refuses_a_setting_is_reported(monkeypatch):
    """musl's mallopt accepts the call and changes nothing: it returns 0."""
    for variable in allocator.OPERATORS_OWN:
        monkeypatch.delenv(variable, raising=False)

    class Musl:
        @staticmethod
        def mallopt(parameter: int, value: int) -> int:
            return 0

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Musl)
    assert allocator.keep_buffers() is False
