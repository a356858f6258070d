"""With ORIGIN_VERIFY_SECRET set, only callers presenting the secret header (API Gateway) get through."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from handler.settings import ConfigError, Settings
from tests.app.scripted import ScriptedBackend, Send
from tests.loopback import ROOT, free_port

SECRET = "s3cr3t-value-from-pulumi"


@pytest.fixture
def guarded(serve):
    backend = ScriptedBackend([Send(b"data: ok\n\n")])
    with serve(backend, origin_verify_secret=SECRET, origin_verify_header="x-origin-verify") as base:
        yield base, backend


def test_requests_with_the_secret_header_are_served(guarded):
    base, _ = guarded
    response = httpx.post(base + "/invoke", json={"prompt": "hi"}, headers={"X-Origin-Verify": SECRET})
    assert response.status_code == 200
    assert response.content == b"data: ok\n\n"


@pytest.mark.parametrize("headers", [{}, {"X-Origin-Verify": "wrong"}, {"X-Origin-Verify": SECRET + "x"}])
def test_requests_without_the_right_secret_get_403_and_never_reach_the_backend(guarded, headers, access_log):
    base, backend = guarded
    response = httpx.post(base + "/invoke", json={"prompt": "hi"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert backend.opened == []
    assert (access_log.records()[-1]["outcome"], access_log.records()[-1]["error"]) == ("refused", "Forbidden")
    assert SECRET not in access_log.getvalue()


def test_the_readiness_check_needs_no_secret(guarded):
    base, _ = guarded
    assert httpx.get(base + "/healthz").status_code == 200


# --- an empty secret, and rotation -------------------------------------------------------------------------


PREVIOUS = "the-secret-the-live-deployment-still-sends"


@pytest.mark.parametrize("name", ["ORIGIN_VERIFY_SECRET", "ORIGIN_VERIFY_SECRET_PREVIOUS"])
@pytest.mark.parametrize("empty", ["", "   "])
def test_a_secret_that_is_set_but_empty_refuses_to_start_instead_of_switching_the_guard_off(name, empty):
    env = {"ORIGIN_VERIFY_SECRET": SECRET, name: empty}
    with pytest.raises(ConfigError, match=rf"^{name} is set but empty"):
        Settings.from_env(env)


def test_python_m_handler_exits_with_the_reason_when_the_secret_is_empty():
    env = {**os.environ, "ORIGIN_VERIFY_SECRET": "", "PORT": str(free_port()), "HOST": "127.0.0.1"}
    done = subprocess.run(
        [sys.executable, "-m", "handler"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "ORIGIN_VERIFY_SECRET is set but empty" in done.stderr


def test_a_previous_secret_alone_is_refused():
    with pytest.raises(ConfigError, match="ORIGIN_VERIFY_SECRET_PREVIOUS needs ORIGIN_VERIFY_SECRET"):
        Settings.from_env({"ORIGIN_VERIFY_SECRET_PREVIOUS": PREVIOUS})


def test_during_a_rotation_the_current_and_the_previous_secret_are_both_served(serve):
    backend = ScriptedBackend([Send(b"data: ok\n\n")])
    env = {"ORIGIN_VERIFY_SECRET": SECRET, "ORIGIN_VERIFY_SECRET_PREVIOUS": PREVIOUS}
    settings = Settings.from_env(env)
    assert settings.origin_verify_secrets == (SECRET, PREVIOUS)
    with serve(backend, origin_verify_secret=SECRET, origin_verify_previous=PREVIOUS) as base:
        answers = {
            value: httpx.post(base + "/invoke", json={"prompt": "hi"}, headers={"X-Origin-Verify": value}).status_code
            for value in (SECRET, PREVIOUS, "an-older-secret", "")
        }
    assert answers == {SECRET: 200, PREVIOUS: 200, "an-older-secret": 403, "": 403}
    assert len(backend.opened) == 2
