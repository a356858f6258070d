"""The machine's own noise beside the figures: late wake-ups, and the hypervisor's share of the CPU time."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from bench import machine
from bench.__main__ import main
from bench.machine import StealLog, StealMeter, WakeUps, cpu_ticks, steal_share, wake_ups


class ScriptedClock:
    """A clock that only moves when slept on: each sleep lasts its period plus the next scripted overshoot."""

    def __init__(self, overshoots: list[float]) -> None:
        self.now = 0.0
        self._overshoots = itertools.chain(overshoots, itertools.repeat(0.0))

    def __call__(self) -> float:
        return self.now

    def sleep(self, period: float) -> None:
        self.now += period + next(self._overshoots)


def test_wake_ups_count_the_sleeps_that_overshot_by_more_than_the_margin_and_keep_the_latest() -> None:
    clock = ScriptedClock([0.0, 0.006, 0.0049, 0.012])
    woke = wake_ups(0.02, period=0.001, late_by=0.005, clock=clock, sleep=clock.sleep)
    # The fourth sleep starts at 13.9 ms, inside the 20 ms, and ends past them: the last one.
    assert (woke.sleeps, woke.late, woke.late_by_ms) == (4, 2, 5.0)
    assert woke.latest_ms == pytest.approx(12.0)


def test_cpu_ticks_read_all_cpu_time_and_the_steal_from_the_first_line_of_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice: guest time is inside user already.
    stat.write_text("cpu  100 5 50 800 10 1 4 30 70 0\ncpu0 50 2 25 400 5 0 2 15 35 0\n")
    assert cpu_ticks(str(stat)) == (1000, 30)


def test_cpu_ticks_are_none_where_the_machine_does_not_say(tmp_path: Path) -> None:
    assert cpu_ticks(str(tmp_path / "missing")) is None
    (tmp_path / "odd").write_text("intr 12 3 4\n")
    assert cpu_ticks(str(tmp_path / "odd")) is None


def test_the_steal_share_is_of_the_cpu_time_between_two_readings() -> None:
    assert steal_share((1000, 30), (1200, 40)) == 5.0
    assert steal_share((1000, 30), (1000, 30)) == 0.0


def test_the_log_keeps_its_worst_stretch_and_what_ran_then_but_not_a_stretch_too_short_to_rank() -> None:
    log = StealLog((0, 0), at=0.0, shortest=0.5)
    log.add((200, 2), at=1.0, label="forwarding lag")
    log.add((400, 22), at=2.0, label="16 concurrent streams")
    log.add((600, 24), at=3.0, label="cold start")
    log.add((610, 9), at=3.1, label="cold start")  # 0.1 s: too few ticks to say
    # 1 %, then 10 % (the worst), then 1 %.
    assert (log.worst, log.worst_during) == (10.0, "16 concurrent streams")
    assert log.share == pytest.approx(100 * 9 / 610)


def test_the_log_says_the_share_while_each_label_ran() -> None:
    log = StealLog((0, 0), at=0.0, shortest=0.5)
    log.add((200, 2), at=1.0, label="forwarding lag")
    log.add((400, 22), at=2.0, label="16 concurrent streams")
    log.add((600, 24), at=3.0, label="16 concurrent streams")
    assert log.share_during("forwarding lag") == 1.0
    assert log.share_during("16 concurrent streams") == pytest.approx(5.5)  # 22 of 400 ticks
    assert log.share_during("cold start") is None


def test_a_meter_reads_on_leaving_and_has_no_log_where_the_machine_does_not_say() -> None:
    readings = iter([(0, 0), (1000, 40)])
    with StealMeter(read=lambda: next(readings)) as meter:
        pass
    assert meter.log is not None
    assert meter.log.share == 4.0
    with StealMeter(read=lambda: None) as silent:
        pass
    assert silent.log is None


def test_the_idle_machine_figures_and_the_runs_steal_share_are_printed_without_targets(
    monkeypatch, capsys: pytest.CaptureFixture
) -> None:
    # The run's meter reads on entering, as the measure ends and on leaving; its own thread, should a
    # slow machine give it time to read, sees no time pass.
    readings = iter([(0, 0), (1000, 40), (1000, 40)])
    last = [(0, 0)]

    def read() -> tuple[int, int]:
        if threading.current_thread().name != "steal-meter":
            last[0] = next(readings)
        return last[0]

    monkeypatch.setattr(machine, "cpu_ticks", read)
    monkeypatch.setattr(machine, "wake_ups", lambda seconds: WakeUps(4000, 2, 5.0, 9.3))
    assert main(["--only", "idle machine"]) == 0
    captured = capsys.readouterr()
    rows = {line.split("  ")[0].strip(): line for line in captured.out.splitlines()}
    assert "5.00 per 10 000" in rows["idle machine: 1 ms sleeps woken over 5 ms late"]
    assert "(2 of 4000)" in rows["idle machine: 1 ms sleeps woken over 5 ms late"]
    assert "9.30 ms" in rows["idle machine: latest wake-up past its sleep"]
    assert "4.00 %" in rows["the hypervisor's share of the CPU time during the run"]
    figures = [line for name, line in rows.items() if "machine" in name or "hypervisor" in name]
    assert len(figures) == 3
    assert not any(op in line for line in figures for op in ("<=", ">="))
    assert "idle machine: the hypervisor took 4.0 % of the CPU time during this measure" in captured.err
