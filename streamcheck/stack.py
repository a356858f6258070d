"""The endpoints a deployed stack exports, read with `pulumi stack output --json`."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

# The stack outputs the Pulumi program exports (infra/); the one place streamcheck names them.
API_INVOKE_URL = "apiInvokeUrl"
FUNCTION_URL = "functionUrl"
INTEGRATION = "integration"
# In this integration the function URL rejects (403) anything without API Gateway's secret header.
GUARDED_INTEGRATION = "function_url"

PULUMI_TIMEOUT_S = 120


class StackError(Exception):
    """The stack's outputs could not be read."""


@dataclass(frozen=True)
class Endpoints:
    api_invoke_url: str
    function_url: str | None
    integration: str | None

    @property
    def function_url_is_guarded(self) -> bool:
        return self.integration == GUARDED_INTEGRATION


def read_endpoints(stack: str) -> Endpoints:
    outputs = stack_outputs(stack)
    api = outputs.get(API_INVOKE_URL)
    if not isinstance(api, str) or not api:
        raise StackError(f"stack {stack!r} has no {API_INVOKE_URL!r} output (deployed yet?)")
    function_url = outputs.get(FUNCTION_URL) or None
    return Endpoints(
        api_invoke_url=api,
        function_url=function_url if isinstance(function_url, str) else None,
        integration=outputs.get(INTEGRATION),
    )


def stack_outputs(stack: str) -> dict:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise StackError("--stack needs the pulumi CLI on PATH (or pass the URL instead)")
    try:
        done = subprocess.run(
            [pulumi, "stack", "output", "--json", "--stack", stack],
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"pulumi stack output did not answer within {PULUMI_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise StackError(f"pulumi stack output --stack {stack} failed: {lines[-1]}")
    try:
        outputs = json.loads(done.stdout)
    except ValueError:
        raise StackError("pulumi stack output --json did not print JSON") from None
    if not isinstance(outputs, dict):
        raise StackError("pulumi stack output --json did not print a JSON object")
    return outputs
