"""`make bench` prints every figure against its target, shows progress, and fails when a target is missed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import machine
from bench.__main__ import main
from bench.registry import Figure, Measure, Session, Target


@pytest.fixture(autouse=True)
def a_machine_that_does_not_say_its_steal_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table and progress lines here are the measures' alone (tests/bench/test_machine.py has the machine's)."""
    monkeypatch.setattr(machine, "cpu_ticks", lambda: None)


def fast_enough(session: Session) -> Iterator[Figure]:
    session.progress("halfway")
    yield Figure("context only", 123.4, "MiB/s")
    yield Figure("lag max", 4.0, "ms", Target("<=", 5))


def too_slow(session: Session) -> Iterator[Figure]:
    yield Figure("ratio", 0.3, "x", Target(">=", 0.5), "rounds 0.30, 0.31, 0.29")


def broken(session: Session) -> Iterator[Figure]:
    yield Figure("before the crash", 1.0, "ms", Target("<=", 2))
    raise RuntimeError("the fake did not answer")


def table_row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(name + " "))


def test_every_figure_is_printed_against_its_target_and_a_clean_run_exits_0(capsys: pytest.CaptureFixture) -> None:
    assert main([], measures=[Measure("fast", fast_enough)]) == 0
    out = capsys.readouterr().out
    assert table_row(out, "lag max").split() == ["lag", "max", "4.00", "ms", "<=", "5", "ms", "ok"]
    assert table_row(out, "context only").split() == ["context", "only", "123", "MiB/s"]
    assert "all 1 targets met" in out


def test_a_missed_target_is_marked_and_fails_the_run(capsys: pytest.CaptureFixture) -> None:
    assert main([], measures=[Measure("fast", fast_enough), Measure("slow", too_slow)]) == 1
    out = capsys.readouterr().out
    assert table_row(out, "ratio").split()[:6] == ["ratio", "0.30", "x", ">=", "0.5", "x"]
    assert "MISSED" in table_row(out, "ratio")
    assert "(rounds 0.30, 0.31, 0.29)" in table_row(out, "ratio")
    assert "1 target(s) missed" in out


def test_a_measure_that_fails_fails_the_run_but_the_others_still_report(capsys: pytest.CaptureFixture) -> None:
    assert main([], measures=[Measure("broken", broken), Measure("fast", fast_enough)]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in table_row(captured.out, "broken")
    assert table_row(captured.out, "before the crash").endswith("ok")
    assert table_row(captured.out, "lag max").endswith("ok")
    assert "RuntimeError: the fake did not answer" in captured.err


def test_progress_lines_name_the_measure_and_show_each_figure_as_it_is_measured(
    capsys: pytest.CaptureFixture,
) -> None:
    main([], measures=[Measure("fast", fast_enough), Measure("slow", too_slow)])
    progress = [line.split("] ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert progress[:4] == [
        "measure 1/2: fast",
        "fast: halfway",
        "fast: context only: 123 MiB/s",
        "fast: lag max: 4.00 ms (target <= 5 ms: ok)",
    ]
    assert progress[4] == "measure 2/2: slow"


def test_only_runs_the_named_measures_and_refuses_unknown_ones(capsys: pytest.CaptureFixture) -> None:
    measures = [Measure("fast", fast_enough), Measure("slow", too_slow)]
    assert main(["--only", "fast"], measures=measures) == 0
    assert "ratio" not in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        main(["--only", "fastest"], measures=measures)
    assert refused.value.code == 2
    assert "unknown measure(s): fastest" in capsys.readouterr().err
