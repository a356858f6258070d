"""Print the relay's figures against their targets; exit 1 when any target is missed or a measure fails.
Ratios are measured side by side in this one run."""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from collections.abc import Sequence
from typing import TextIO

from bench import machine, measure
from bench.measures import MEASURES
from bench.registry import Figure, Measure, Relay, Session
from tests.fakes import FakeAgentCore


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="size of the throughput stream (MiB)")
    parser.add_argument("--runs", type=int, default=5, help="cold starts to take the median of")
    names = ", ".join(m.name for m in MEASURES)
    parser.add_argument("--only", action="append", metavar="MEASURE", help=f"run only these measures ({names})")
    return parser


def start_relay(stack: contextlib.ExitStack) -> Relay:
    fake = stack.enter_context(FakeAgentCore())
    base, app = stack.enter_context(measure.relay_through_app(fake))
    return Relay(fake, base, app)


def run(measures: Sequence[Measure], session: Session) -> tuple[list[Figure], list[str]]:
    """Every measure's figures, each shown as it is measured; and the measures that failed outright."""
    figures: list[Figure] = []
    failed: list[str] = []
    with machine.StealMeter(label=lambda: session.measure) as steal:
        for number, each in enumerate(measures, 1):
            session.measure = ""
            session.progress(f"measure {number}/{len(measures)}: {each.name}")
            session.measure = each.name
            try:
                for figure in each.run(session):
                    figures.append(figure)
                    session.progress(figure.summary())
            except Exception:
                failed.append(each.name)
                session.progress("FAILED\n" + traceback.format_exc())
            steal.sample()
            if steal.log is not None and (share := steal.log.share_during(each.name)) is not None:
                session.progress(f"the hypervisor took {share:.1f} % of the CPU time during this measure")
        session.measure = ""
    if (log := steal.log) is not None:
        worst = f"worst second {log.worst:.0f} %" + (f", during {log.worst_during}" if log.worst_during else "")
        figures.append(Figure("the hypervisor's share of the CPU time during the run", log.share, "%", detail=worst))
    return figures, failed


def line(figure: Figure, width: int = 0) -> str:
    verdict = {True: "ok", False: "MISSED", None: ""}[figure.met]
    detail = f"  ({figure.detail})" if figure.detail else ""
    return f"{figure.name:<{width}}  {figure.shown():>12}  {figure.target_shown():<11}  {verdict:<6}{detail}".rstrip()


def report(figures: Sequence[Figure], failed: Sequence[str], out: TextIO) -> int:
    """The table of every figure against its target; 1 if any target was missed or a measure failed."""
    width = max([len("measure"), *(len(f.name) for f in figures)])
    print(f"{'measure':<{width}}  {'figure':>12}  {'target':<11}  verdict", file=out)
    for figure in figures:
        print(line(figure, width), file=out)
    missed = [f.name for f in figures if f.met is False]
    for name in failed:
        print(f"{name:<{width}}  {'FAILED':>12}  (see the traceback above)", file=out)
    if missed or failed:
        print(f"\n{len(missed)} target(s) missed, {len(failed)} measure(s) failed", file=out)
        return 1
    print(f"\nall {sum(f.target is not None for f in figures)} targets met", file=out)
    return 0


def main(argv: Sequence[str] | None = None, measures: Sequence[Measure] = MEASURES) -> int:
    options = parser().parse_args(argv)
    chosen = [m for m in measures if not options.only or m.name in options.only]
    if options.only and len(chosen) != len(set(options.only)):
        unknown = set(options.only) - {m.name for m in measures}
        parser().error(f"unknown measure(s): {', '.join(sorted(unknown))}")
    with contextlib.ExitStack() as stack:
        figures, failed = run(chosen, Session(options, stack, start_relay))
    return report(figures, failed, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
