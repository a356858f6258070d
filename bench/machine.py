"""What the machine itself adds to every figure: how late a sleeping thread wakes up, and how much of
the CPU time the hypervisor takes for itself (steal time, from /proc/stat).

On a shared virtual machine both move from minute to minute, and a figure that is the maximum over
hundreds of events (the 16-stream lag) inherits the machine's worst moment. Printed beside the
figures, they tell a miss of the code from a bad moment of the machine. Neither has a target.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

STAT = "/proc/stat"


@dataclass(frozen=True)
class WakeUps:
    """Sleeps of one period each, and how many woke up more than `late_by_ms` after their end."""

    sleeps: int
    late: int
    late_by_ms: float
    latest_ms: float  # the latest wake-up, past its sleep's end


def wake_ups(
    seconds: float,
    period: float = 0.001,
    late_by: float = 0.005,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], object] = time.sleep,
) -> WakeUps:
    """Sleep `period` again and again for `seconds`, timing each wake-up against the sleep's end."""
    sleeps = late = 0
    latest = 0.0
    end = clock() + seconds
    while (before := clock()) < end:
        sleep(period)
        past_end = clock() - before - period
        sleeps += 1
        late += past_end > late_by
        latest = max(latest, past_end)
    return WakeUps(sleeps, late, late_by * 1000, latest * 1000)


def cpu_ticks(path: str = STAT) -> tuple[int, int] | None:
    """(all CPU time, the hypervisor's steal) since boot, in clock ticks; None where there is no /proc/stat."""
    try:
        with open(path) as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice], in proc_stat(5)'s order; guest time is
    # counted in user already (the kernel's account_guest_time, kernel/sched/cputime.c, adds it to both).
    ticks = [int(field) for field in fields[1:9]]
    return sum(ticks), ticks[7]


def steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The steal time between two `cpu_ticks` readings, as a percentage of all CPU time between them."""
    total = after[0] - before[0]
    return 100 * (after[1] - before[1]) / total if total > 0 else 0.0


class StealLog:
    """`cpu_ticks` readings in time order, each labelled with what ran since the one before: the steal
    share over all of them (`share`) and while a label ran (`share_during`), and the worst stretch
    between two readings (`worst`, with its label). A stretch shorter than `shortest` seconds holds too
    few clock ticks to rank."""

    def __init__(self, first: tuple[int, int], at: float, shortest: float) -> None:
        self._first = self._last = first
        self._last_at = at
        self._shortest = shortest
        self._by_label: dict[str, tuple[int, int]] = {}
        self.worst = 0.0
        self.worst_during = ""

    def add(self, reading: tuple[int, int], at: float, label: str = "") -> None:
        stretch = steal_share(self._last, reading)
        if at - self._last_at >= self._shortest and stretch > self.worst:
            self.worst, self.worst_during = stretch, label
        total, steal = self._by_label.get(label, (0, 0))
        self._by_label[label] = (total + reading[0] - self._last[0], steal + reading[1] - self._last[1])
        self._last, self._last_at = reading, at

    @property
    def share(self) -> float:
        return steal_share(self._first, self._last)

    def share_during(self, label: str) -> float | None:
        spent = self._by_label.get(label)
        return None if spent is None else steal_share((0, 0), spent)


class StealMeter:
    """The hypervisor's share of the CPU time while the meter runs (`with StealMeter() as meter:`),
    read every `interval` seconds on a thread of its own and whenever `sample()` is called (say, as
    each measure ends); `log` is None where the machine does not say."""

    def __init__(
        self,
        interval: float = 1.0,
        label: Callable[[], str] = lambda: "",
        read: Callable[[], tuple[int, int] | None] | None = None,
    ) -> None:
        self.interval = interval
        self._label = label
        self._read = read or cpu_ticks
        self.log: StealLog | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> StealMeter:
        first = self._read()
        if first is not None:
            self.log = StealLog(first, time.monotonic(), shortest=self.interval / 2)
            self._sampler = threading.Thread(target=self._sample_until_stopped, name="steal-meter", daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
            self.sample()

    def sample(self) -> None:
        """Read the machine now; what ran since the last reading is what `label()` says runs now."""
        with self._lock:
            reading = self._read()
            if reading is not None and self.log is not None:
                self.log.add(reading, time.monotonic(), self._label())

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
