"""With ORIGIN_VERIFY_SECRET set, only callers presenting the secret header (API Gateway) get through."""

from __future__ import annotations

import httpx
import pytest

from tests.app.scripted import ScriptedBackend, Send

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
