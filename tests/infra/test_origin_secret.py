"""Rotating the origin secret with originSecretVersion (mocked AWS): every request stays valid throughout.

The mocks follow pulumi-random: a RandomPassword whose keepers change is replaced and draws a new value; one
whose keepers stay keeps its value (infra/offline.py). What the function accepts is decided by the app's own
settings and guard, read from the environment the program writes.
"""

from __future__ import annotations

import pytest

from handler.settings import Settings
from infra.offline import OfflineRun
from infra.origin_secret import slot_keepers

FUNCTION = "aws:lambda/function:Function"
PASSWORD = "random:index/randomPassword:RandomPassword"
HEADER = "integration.request.header.X-Origin-Verify"


def deploy(program, version: int) -> OfflineRun:
    return program("dev", integration="function_url", originSecretVersion=version)


def sent(run: OfflineRun) -> str:
    """The secret API Gateway adds to every request (the same on every integration)."""
    values = {
        i.plain["requestParameters"][HEADER].strip("'") for i in run.of_type("aws:apigateway/integration:Integration")
    }
    (value,) = values
    return value


def accepted(run: OfflineRun) -> tuple[str, ...]:
    env = run.one(FUNCTION).plain["environment"]["variables"]
    return Settings.from_env(env).origin_verify_secrets


@pytest.mark.parametrize("version", range(1, 12))
def test_each_bump_regenerates_exactly_one_slot(version):
    before, after = slot_keepers(version), slot_keepers(version + 1)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1


def test_a_bump_sends_a_new_secret_that_the_updated_function_accepts_beside_the_old_one(program):
    for version in range(1, 5):
        old, new = deploy(program, version), deploy(program, version + 1)
        assert sent(new) != sent(old)
        # The live deployment keeps sending the old secret until the stage switches; the new one after.
        assert set(accepted(new)) == {sent(old), sent(new)}


def test_a_secret_is_retired_two_bumps_later(program):
    first, third = deploy(program, 1), deploy(program, 3)
    assert sent(first) not in accepted(third)


def test_the_new_deployment_waits_for_the_function_that_accepts_its_secret(program):
    run = deploy(program, 2)
    deployment = run.one("aws:apigateway/deployment:Deployment")
    assert run.one(FUNCTION).urn in deployment.dependencies
    # …and the stage only moves to that deployment once it exists.
    assert deployment.urn in run.one("aws:apigateway/stage:Stage").dependencies


def test_the_first_version_keeps_round_ones_secret_resource_unchanged(program):
    slot_a = next(p for p in deploy(program, 1).of_type(PASSWORD) if p.name == "handler-origin-secret")
    assert slot_a.inputs.get("keepers") in (None, {})
    assert slot_a.inputs["length"] == 48


def test_the_version_must_be_a_positive_whole_number(program):
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match=r"^streamgate:originSecretVersion='0' is not allowed"):
        deploy(program, 0)
