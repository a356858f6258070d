"""`python -m infra.plan STACK [key=value ...]`: print what the program would register, offline, for review.

Runs `__main__.py` under the same mocks as the tests, with Pulumi.yaml defaults, Pulumi.<STACK>.yaml and the
given overrides. IDs, ARNs, URLs and digests come from the mocks; everything else is what `pulumi up` would
send. A setting the stack leaves to the user (e.g. prod's agentRuntimeArn) gets a marked placeholder.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from infra.aws_rules import Refused
from infra.config import BACKEND_REQUIRES, PROJECT, ConfigError
from infra.offline import OfflineRun, reveal, run_program, stack_config

PLACEHOLDERS = {
    "agentRuntimeArn": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/PLACEHOLDER-0000000000",
    "modelId": "PLACEHOLDER.model-id-v1:0",
}


def placeholders_for(stack: str, overrides: dict[str, str]) -> dict[str, str]:
    config = stack_config(stack, overrides)
    needed = BACKEND_REQUIRES.get(config[f"{PROJECT}:backend"])
    if needed and not config.get(f"{PROJECT}:{needed[0]}"):
        return {needed[0]: PLACEHOLDERS[needed[0]]}
    return {}


def render(run: OfflineRun, filled: dict[str, str]) -> str:
    lines = [f"streamgate plan, stack {run.stack} (offline: IDs, ARNs, URLs and digests are mocked)"]
    lines += [
        f"  placeholder {key} = {value} (pulumi preview will ask for the real one)" for key, value in filled.items()
    ]
    lines += [f"  warning: {message}" for message in run.warnings]
    lines.append(f"\nResources ({len(run.resources)}):")
    secrets = _secret_values(run)
    for resource in sorted(run.resources, key=lambda r: (r.type, r.name)):
        lines.append(f"+ {resource.type}  {resource.name}")
        lines += [f"      {key}: {_mask(value, secrets)}" for key, value in _flatten(reveal(resource.inputs))]
    lines.append("\nOutputs:")
    for key in sorted(run.outputs):
        shown = "[secret]" if key in run.secret_outputs else run.outputs[key]
        lines.append(f"  {key}: {shown}")
    return "\n".join(lines)


def _secret_values(run: OfflineRun) -> list[str]:
    """Values the mocks generated for secrets; masked wherever they flow, as Pulumi would show them."""
    generated = [r.state["result"] for r in run.of_type("random:index/randomPassword:RandomPassword")]
    return [*generated, "offline-ecr-password"]


def _mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return text


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [item for key in sorted(value) for item in _flatten(value[key], f"{prefix}.{key}" if prefix else key)]
    return [(prefix, _scalar(value))]


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


USAGE = "usage: python -m infra.plan STACK [key=value ...]  (offline: prints what the program would register)"


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or any("=" not in arg for arg in argv[1:]):
        print(USAGE, file=sys.stderr)
        return 2
    stack, overrides = argv[0], dict(arg.split("=", 1) for arg in argv[1:])
    try:
        filled = placeholders_for(stack, overrides)
        run = run_program(stack, {**overrides, **filled})
    except (ConfigError, Refused, FileNotFoundError) as error:
        print(f"streamgate plan: {error}", file=sys.stderr)
        return 2
    print(render(run, filled))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
