"""CORS for a list of origins: a listed Origin is echoed with Vary: Origin, preflight is answered only for the
list, and every answer (stream, error, 500) carries the same headers."""

from __future__ import annotations

import httpx
import pytest

from handler.cors import OriginListError, parse_origins
from handler.settings import ConfigError, Settings
from tests.app.scripted import ScriptedBackend, Send

APP = "https://app.example.com"
ADMIN = "https://admin.example.com:8443"
STRANGER = "https://evil.example"
ORIGINS = (APP, ADMIN)


def preflight(base: str, origin: str, **extra: str) -> httpx.Response:
    headers = {"origin": origin, "access-control-request-method": "POST", **extra}
    return httpx.options(base + "/invoke", headers=headers)


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend([Send(b"data: ok\n\n")])


def test_each_listed_origin_is_echoed_with_vary_origin_on_the_stream(serve, backend):
    with serve(backend, cors_allow_origins=ORIGINS) as base:
        for origin in ORIGINS:
            response = httpx.post(base + "/invoke", json={"prompt": "hi"}, headers={"origin": origin})
            assert response.status_code == 200
            assert response.headers["access-control-allow-origin"] == origin
            assert "Origin" in response.headers["vary"]
            assert response.headers["access-control-expose-headers"] == "X-Session-Id"
            assert response.content == b"data: ok\n\n"


def test_an_unlisted_origin_gets_no_cors_header_so_the_browser_keeps_the_answer_from_its_page(serve, backend):
    with serve(backend, cors_allow_origins=ORIGINS) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "hi"}, headers={"origin": STRANGER})
    assert "access-control-allow-origin" not in response.headers
    assert "Origin" in response.headers["vary"]


def test_preflight_is_answered_for_listed_origins_only_and_never_reaches_the_backend(serve, backend):
    with serve(backend, cors_allow_origins=ORIGINS) as base:
        allowed = preflight(base, ADMIN, **{"access-control-request-headers": "content-type, authorization"})
        refused = preflight(base, STRANGER)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ADMIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "Authorization" in allowed.headers["access-control-allow-headers"]
    assert allowed.headers["access-control-max-age"] == "600"
    assert "Origin" in allowed.headers["vary"]
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert backend.opened == []


def test_errors_before_the_stream_carry_the_echoed_origin_too(serve, backend):
    with serve(backend, cors_allow_origins=ORIGINS) as base:
        response = httpx.post(base + "/invoke", content=b"not json", headers={"origin": APP})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == APP


def test_star_allows_every_origin(serve, backend):
    with serve(backend) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "hi"}, headers={"origin": STRANGER})
        allowed = preflight(base, STRANGER)
    assert response.headers["access-control-allow-origin"] == "*"
    assert (allowed.status_code, allowed.headers["access-control-allow-origin"]) == (200, "*")


def test_no_origins_lets_no_page_read_the_answers(serve, backend):
    with serve(backend, cors_allow_origins=()) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "hi"}, headers={"origin": APP})
        refused = preflight(base, APP)
    assert response.status_code == 200  # clients that are not browsers are unaffected
    assert "access-control-allow-origin" not in response.headers
    assert refused.status_code == 400


def test_behind_the_origin_guard_a_preflight_without_the_secret_is_refused(serve, backend):
    with serve(backend, cors_allow_origins=ORIGINS, origin_verify_secret="s" * 40) as base:
        direct = preflight(base, APP)
        through_api = preflight(base, APP, **{"x-origin-verify": "s" * 40})
    assert direct.status_code == 403
    assert through_api.status_code == 200


def test_the_environment_takes_a_comma_separated_list_or_none():
    assert Settings.from_env({"CORS_ALLOW_ORIGINS": f"{APP}, {ADMIN}"}).cors_allow_origins == ORIGINS
    assert Settings.from_env({"CORS_ALLOW_ORIGINS": "none"}).cors_allow_origins == ()
    assert Settings.from_env({}).cors_allow_origins == ("*",)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"*,{APP}", "* already allows every origin"),
        ("https://app.example.com/page", "is not an origin like"),
        (f"{APP},{APP}", "listed twice"),
        ("app.example.com", "is not an origin like"),
    ],
)
def test_a_bad_origin_list_stops_the_app_naming_the_variable(value, why):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"CORS_ALLOW_ORIGINS": value})
    assert str(refused.value).startswith(f"CORS_ALLOW_ORIGINS={value!r}: ")
    assert why in str(refused.value)
    with pytest.raises(OriginListError):
        parse_origins(value.split(","))
