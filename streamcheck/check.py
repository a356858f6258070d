"""One endpoint checked: the timed request and the verdict on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamcheck.probe import ProbeResult, Signer, probe
from streamcheck.verdict import Verdict, judge


@dataclass(frozen=True)
class Target:
    label: str
    url: str
    # True for a function URL that only API Gateway may call: a 403 there is the guard working.
    forbidden_expected: bool = False


@dataclass(frozen=True)
class Check:
    target: Target
    result: ProbeResult
    verdict: Verdict


def run_check(target: Target, body: bytes, headers: Mapping[str, str], timeout: float, signer: Signer | None) -> Check:
    result = probe(target.url, body, headers, timeout, signer)
    verdict = judge(
        result.status, result.samples, forbidden_expected=target.forbidden_expected, error_event=result.error_event
    )
    return Check(target, result, verdict)
