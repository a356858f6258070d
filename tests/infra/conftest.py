"""One offline program run per distinct stack config, shared by every test that asks for it."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

import pytest

from infra.offline import OfflineRun, run_program

RUNTIME_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/support_agent-Ab12Cd34Ef"
# prod leaves the runtime ARN to the user; the tests play that user.
USER_SET = {"dev": {}, "prod": {"agentRuntimeArn": RUNTIME_ARN}}


@functools.cache
def _run(stack: str, overrides: tuple[tuple[str, object], ...]) -> OfflineRun:
    return run_program(stack, {**USER_SET[stack], **dict(overrides)})


@pytest.fixture(scope="session")
def program() -> Callable[..., OfflineRun]:
    """program("dev", integration="aws_proxy") -> the registered resources and outputs (cached)."""

    def run(stack: str, **overrides: object) -> OfflineRun:
        # A list setting travels as the JSON text the CLI would hand over (and stays hashable for the cache).
        frozen = {key: json.dumps(value) if isinstance(value, list) else value for key, value in overrides.items()}
        return _run(stack, tuple(sorted(frozen.items())))

    return run


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated modules on import; nothing this project can act on.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws.*")
