"""Cleaning up after clients who left (StopRuntimeSession) waits for the departures to pause, so that a
crowd leaving at once is heard, and its upstreams told, before milliseconds of cleanup per client."""

from __future__ import annotations

import threading
import time

from handler.backends.calls import CleanupLane
from tests.loopback import eventually


def test_a_lone_departure_is_cleaned_up_once_the_pause_is_over():
    lane = CleanupLane(settle=0.05, at_most=5)
    ran = threading.Event()
    lane.submit(ran.set)
    assert ran.wait(2)


def test_departures_in_quick_succession_are_cleaned_up_after_the_last_in_the_order_they_came():
    lane = CleanupLane(settle=1.0, at_most=30)
    all_in = threading.Event()
    ran: list[tuple[int, bool]] = []
    for n in range(50):
        lane.submit(lambda n=n: ran.append((n, all_in.is_set())))
    all_in.set()
    assert eventually(lambda: len(ran) == 50, timeout=10)
    assert ran == [(n, True) for n in range(50)], "none ran while departures were still coming"


def test_a_steady_trickle_of_departures_does_not_postpone_the_cleanup_beyond_at_most():
    lane = CleanupLane(settle=1.0, at_most=0.2)
    first = threading.Event()
    lane.submit(first.set)
    trickle_ends = time.perf_counter() + 3
    while time.perf_counter() < trickle_ends and not first.is_set():
        lane.submit(lambda: None)
        time.sleep(0.05)
    assert first.is_set(), "the first cleanup waited for the trickle to end"


def test_a_failing_cleanup_does_not_stop_the_lane():
    lane = CleanupLane(settle=0.01, at_most=1)
    after = threading.Event()

    def fails() -> None:
        raise RuntimeError("the stop was refused")

    lane.submit(fails)
    lane.submit(after.set)
    assert after.wait(2)
