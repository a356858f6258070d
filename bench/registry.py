"""The bench's building blocks: a measure is a name and a function that returns figures, each figure
carries its own target, and a session gives the measures what they share (options, progress, the relay).

Adding a figure to `make bench` is one row in `bench.measures.MEASURES`:

    Measure("open grace", open_grace)   # def open_grace(session: Session) -> Iterable[Figure]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TextIO

from tests.fakes import FakeAgentCore


@dataclass(frozen=True)
class Target:
    """What a figure must be: `value <op> bound`, e.g. `Target("<=", 10)`."""

    op: Literal["<=", ">="]
    bound: float

    def met(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound


@dataclass(frozen=True)
class Figure:
    """One measured number, its unit, and (unless it is context for another figure) its target."""

    name: str
    value: float
    unit: str
    target: Target | None = None
    # What the figure is made of, e.g. the rounds a median was taken over.
    detail: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    def shown(self) -> str:
        return f"{self.value:.{_digits(self.value)}f} {self.unit}".rstrip()

    def summary(self) -> str:
        """One line: `name: figure (target …: ok)`, for the progress lines."""
        verdict = "" if self.target is None else f" (target {self.target_shown()}: {'ok' if self.met else 'MISSED'})"
        return f"{self.name}: {self.shown()}{verdict}"

    def target_shown(self) -> str:
        if self.target is None:
            return ""
        return f"{self.target.op} {self.target.bound:g} {self.unit}".rstrip()


def _digits(value: float) -> int:
    return 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2


@dataclass(frozen=True)
class Relay:
    """The shared set-up most measures read through: the AgentCore fake and `python -m handler` before it."""

    fake: FakeAgentCore
    base: str
    app: subprocess.Popen


class Session:
    """What one `make bench` run shares: the options, progress lines, and the relay (started on first use)."""

    def __init__(
        self,
        options: argparse.Namespace,
        stack: contextlib.ExitStack,
        start_relay: Callable[[contextlib.ExitStack], Relay],
        out: TextIO | None = None,
    ) -> None:
        self.options = options
        self._stack = stack
        self._start_relay = start_relay
        self._relay: Relay | None = None
        self._out = out
        self._started = time.perf_counter()
        self.measure = ""

    def progress(self, message: str) -> None:
        """A line on stderr while the bench runs, so a long measure is visibly alive."""
        elapsed = time.perf_counter() - self._started
        prefix = f"{self.measure}: " if self.measure else ""
        print(f"[bench {elapsed:6.1f}s] {prefix}{message}", file=self._out or sys.stderr, flush=True)

    @property
    def relay(self) -> Relay:
        if self._relay is None:
            self.progress("starting the AgentCore fake and python -m handler")
            self._relay = self._start_relay(self._stack)
        return self._relay


@dataclass(frozen=True)
class Measure:
    name: str
    run: Callable[[Session], Iterable[Figure]]
