"""Every figure `make bench` reports, and its target. One row per measure; add yours to `MEASURES`."""

from __future__ import annotations

import compileall
import sysconfig
from collections.abc import Iterator

from bench import departures, first_byte, machine, measure
from bench.registry import Figure, Measure, Session, Target

# Three rounds where one run on a shared 2-core machine is noisy; the median round is reported.
ROUNDS = 3


def idle_machine(session: Session) -> Iterator[Figure]:
    """How late the machine wakes a sleeping thread before anything of the bench runs on it: every
    lag below includes the machine's wake-ups, and a maximum over hundreds of events its worst one."""
    seconds = 5
    session.progress(f"{seconds} s of 1 ms sleeps, before the fake and the app start")
    woke = machine.wake_ups(seconds)
    late = woke.late / woke.sleeps * 10_000
    detail = f"{woke.late} of {woke.sleeps}"
    yield Figure(f"idle machine: 1 ms sleeps woken over {woke.late_by_ms:g} ms late", late, "per 10 000", detail=detail)
    yield Figure("idle machine: latest wake-up past its sleep", woke.latest_ms, "ms")


def forwarding_lag(session: Session) -> Iterator[Figure]:
    relay = session.relay
    lag = measure.forwarding_lag(relay.base, relay.fake, streams=1, events=40, gap=0.02)
    yield Figure("forwarding lag p50", lag.p50_ms, "ms")
    yield Figure(f"forwarding lag max ({lag.events} events)", lag.max_ms, "ms", Target("<=", 5))


def throughput(session: Session) -> Iterator[Figure]:
    relay, mib = session.relay, session.options.mib
    flows = []
    for round_ in range(1, ROUNDS + 1):
        session.progress(f"round {round_}/{ROUNDS}: {mib} MiB read directly, then through the app")
        flows.append(measure.throughput(relay.base, relay.app, relay.fake, mib * 2**20))
    flow = sorted(flows, key=lambda f: f.ratio)[ROUNDS // 2]
    yield Figure(f"direct read of {mib} MiB", flow.direct_mib_s, "MiB/s")
    yield Figure(f"relayed {mib} MiB", flow.relay_mib_s, "MiB/s")
    rounds = ", ".join(f"{f.ratio:.2f}" for f in flows)
    yield Figure("relay / direct throughput", flow.ratio, "x", Target(">=", 0.5), f"rounds {rounds}")
    growth = max(f.rss_growth_mib for f in flows)
    yield Figure("app peak RSS growth (worst round)", growth, "MiB", Target("<=", 16))


def concurrent_streams(session: Session) -> Iterator[Figure]:
    relay = session.relay
    crowds = []
    for round_ in range(1, ROUNDS + 1):
        session.progress(f"round {round_}/{ROUNDS}: 16 streams opened at once")
        crowds.append(measure.forwarding_lag(relay.base, relay.fake, streams=16, events=30, gap=0.02))
    crowd = sorted(crowds, key=lambda c: c.max_ms)[ROUNDS // 2]
    steady = sorted(crowds, key=lambda c: c.steady_max_ms)[ROUNDS // 2]
    yield Figure("16 concurrent streams: lag p50", crowd.p50_ms, "ms")
    maxima = ", ".join(f"{c.max_ms:.1f}" for c in crowds)
    name = f"16 concurrent streams: lag max incl. opening ({crowd.events} events)"
    yield Figure(name, crowd.max_ms, "ms", Target("<=", 10), f"rounds {maxima}")
    maxima = ", ".join(f"{c.steady_max_ms:.1f}" for c in crowds)
    name = f"16 concurrent streams: lag max once all open ({steady.steady_events} events)"
    yield Figure(name, steady.steady_max_ms, "ms", Target("<=", 10), f"rounds {maxima}")


def byte_compile() -> None:
    """The image byte-compiles everything at build time (see handler/Dockerfile); do the same here so
    cold starts compare like with like even where PYTHONDONTWRITEBYTECODE is set."""
    for folder in (sysconfig.get_paths()["purelib"], "handler"):
        compileall.compile_dir(folder, quiet=1)


def cold_start(session: Session) -> Iterator[Figure]:
    """What a cold function's first caller waits for, against the bare boto3 client's start; and the
    part after readiness, which provisioned concurrency cannot pre-pay."""
    runs = session.options.runs
    byte_compile()
    session.progress(f"{runs} cold spawns -> first streamed byte (agentcore), each beside the boto3 baseline")
    first = first_byte.first_byte(runs)
    yield Figure("boto3 + bedrock-agentcore client (spawn -> built)", first.baseline_ms, "ms")
    yield Figure("agentcore: cold spawn -> /healthz 200", first.spawn_to_healthy_ms, "ms")
    yield Figure("agentcore: cold spawn -> first streamed byte", first.spawn_to_first_byte_ms, "ms")
    yield Figure("cold spawn -> first byte / boto3 client", first.ratio, "x", Target("<=", 1.0))
    runs_ms = ", ".join(f"{value:g}" for value in first.healthy_to_first_byte_runs)
    yield Figure("/healthz 200 -> first streamed byte", first.healthy_to_first_byte_ms, "ms", Target("<=", 25), runs_ms)


def leaving_crowd(session: Session) -> Iterator[Figure]:
    """A crowd that hangs up at once: the upstream must hear each hang-up at once too."""
    clients = 500
    session.progress(f"{clients} streams under way, then every client leaves at once")
    lag = departures.close_lag(session.relay, clients)
    yield Figure(f"{clients} leaving at once: hang-up -> upstream close p50", lag.p50_ms, "ms", Target("<=", 50))
    yield Figure(f"{clients} leaving at once: hang-up -> upstream close max", lag.max_ms, "ms", Target("<=", 500))


def departure_storm(session: Session) -> Iterator[Figure]:
    """Callers who ask a slow agent and leave must not keep a staying caller waiting."""
    session.progress("300 callers ask a slow agent and leave within 0.3 s, then one stays")
    waited = departures.storm_first_byte(session.relay, leaving=300, within=0.3)
    yield Figure("storm of 300 leaving: staying caller's first byte", waited * 1000, "ms", Target("<=", 1000))


def answer_memory(session: Session) -> Iterator[Figure]:
    """Peak RSS growth for answers far bigger than the function could hold."""
    cap_mib = 8  # MAX_ANSWER_BYTES' default
    total = 64 * 2**20
    session.progress("a 64 MiB JSON answer (over the cap), then a 64 MiB SSE stream")
    json_growth = departures.peak_rss_growth_json(session.relay, total)
    yield Figure("64 MiB JSON answer: app peak RSS growth", json_growth, "MiB", Target("<=", 16 + cap_mib))
    sse_growth = departures.peak_rss_growth_sse(session.relay, total)
    yield Figure("64 MiB SSE stream: app peak RSS growth", sse_growth, "MiB", Target("<=", 16 + cap_mib))


MEASURES: list[Measure] = [
    Measure("idle machine", idle_machine),
    Measure("forwarding lag", forwarding_lag),
    Measure("relay throughput", throughput),
    Measure("16 concurrent streams", concurrent_streams),
    Measure("cold start", cold_start),
    Measure("leaving crowd", leaving_crowd),
    Measure("departure storm", departure_storm),
    Measure("answer memory", answer_memory),
]
