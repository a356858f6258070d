"""`--plot`: bytes received over time, one line per endpoint — a staircase when streamed, one step when not."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

from streamcheck.check import Check


def timeline(checks: Sequence[Check], path: Path) -> None:
    # Imported here: matplotlib is slow to import and only --plot needs it; Agg draws without a display.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for check in checks:
        times = [0.0, *(at for at, _ in check.result.samples)]
        received = [0, *accumulate(size for _, size in check.result.samples)]
        axes.step(times, received, where="post", label=f"{check.target.label}: {check.verdict.name}")
    axes.set_xlabel("seconds since the request was sent")
    axes.set_ylabel("bytes received")
    axes.set_title("streamcheck: bytes received over time")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
