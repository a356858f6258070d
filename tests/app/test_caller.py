"""The app knows who is calling, in both integration modes, and a client cannot pose as someone else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from handler.app import create_app
from handler.caller import CALLER_HEADER, REQUEST_CONTEXT_HEADER, CallerSource, scoped_session_id
from handler.contract import SESSION_ID
from handler.settings import Settings
from tests.app.scripted import ScriptedBackend, Send
from tests.fakes.authorizing_gateway import AuthorizingGateway
from tests.loopback import serve_in_thread

SECRET = "origin-secret-for-caller-tests-0123456789"
SESSION = "a" * 40
PRINCIPALS = {
    "cognito": {
        "alice-token": "8c2f0a4e-1111-4b4b-9c9c-aaaaaaaaaaaa",
        "bob-token": "5d1e2b3c-2222-4a4a-8b8b-bbbbbbbbbbbb",
    },
    "iam": {
        "alice-token": "arn:aws:sts::123456789012:assumed-role/app/alice",
        "bob-token": "arn:aws:sts::123456789012:assumed-role/app/bob",
    },
    "lambda": {"alice-token": "user|alice", "bob-token": "user|bob"},
}
VIA = {"aws_proxy": "request_context", "function_url": "header"}
COMBINATIONS = [(a, m) for a in PRINCIPALS for m in VIA]


@contextmanager
def behind_gateway(authorizer: str, mode: str, backend: ScriptedBackend, access_log) -> Iterator[tuple[str, str]]:
    """(gateway URL, the app's own URL: a public function URL) for the app configured as the stack would."""
    settings = Settings(
        caller_source=CallerSource(authorizer, VIA[mode]),
        origin_verify_secret=SECRET if mode == "function_url" else None,
    )
    app = create_app(settings, backend=backend, log_stream=access_log)
    secret = ("X-Origin-Verify", SECRET) if mode == "function_url" else None
    gateway = AuthorizingGateway(app, mode, authorizer, PRINCIPALS[authorizer], origin_secret=secret)
    with serve_in_thread(gateway) as through_api, serve_in_thread(app) as direct:
        yield through_api, direct


def invoke(base: str, token: str, session_id: str = SESSION, **headers: str) -> httpx.Response:
    return httpx.post(
        base + "/invoke",
        json={"prompt": "hi", "session_id": session_id},
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def sessions(backend: ScriptedBackend) -> list[str]:
    """The session ids the backend was asked to open, in order."""
    return [request.session_id for request in backend.opened]


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend([Send(b"data: ok\n\n")])


@pytest.mark.parametrize(("authorizer", "mode"), COMBINATIONS, ids=lambda value: value)
def test_the_caller_reaches_the_access_log_and_scopes_the_upstream_session(authorizer, mode, backend, access_log):
    alice = PRINCIPALS[authorizer]["alice-token"]
    with behind_gateway(authorizer, mode, backend, access_log) as (api, _):
        response = invoke(api, "alice-token")
    assert response.status_code == 200
    assert response.headers["x-session-id"] == SESSION  # the client keeps its own id
    assert sessions(backend) == [scoped_session_id(alice, SESSION)]
    record = access_log.records()[-1]
    assert (record["caller"], record["session_id"]) == (alice, SESSION)
    assert "alice-token" not in access_log.getvalue()


@pytest.mark.parametrize(("authorizer", "mode"), COMBINATIONS, ids=lambda value: value)
def test_a_forged_identity_header_changes_nothing(authorizer, mode, backend, access_log):
    victim = PRINCIPALS[authorizer]["bob-token"]
    forged = {
        CALLER_HEADER: victim,
        REQUEST_CONTEXT_HEADER: json.dumps(
            {"authorizer": {"claims": {"sub": victim}, "principalId": victim}, "identity": {"userArn": victim}}
        ),
    }
    with behind_gateway(authorizer, mode, backend, access_log) as (api, _):
        invoke(api, "alice-token", **forged)
    alice = PRINCIPALS[authorizer]["alice-token"]
    assert access_log.records()[-1]["caller"] == alice
    assert sessions(backend) == [scoped_session_id(alice, SESSION)]


@pytest.mark.parametrize("authorizer", list(PRINCIPALS))
def test_going_around_the_api_to_the_function_url_with_a_forged_caller_is_refused(authorizer, backend, access_log):
    with behind_gateway(authorizer, "function_url", backend, access_log) as (_, function_url):
        response = invoke(function_url, "whatever", **{CALLER_HEADER: PRINCIPALS[authorizer]["bob-token"]})
    assert response.status_code == 403
    assert backend.opened == []


@pytest.mark.parametrize(("authorizer", "mode"), COMBINATIONS, ids=lambda value: value)
def test_with_an_authorizer_a_request_that_carries_no_caller_is_refused(authorizer, mode, backend, access_log):
    settings = Settings(caller_source=CallerSource(authorizer, VIA[mode]))
    with serve_in_thread(create_app(settings, backend=backend, log_stream=access_log)) as base:
        response = invoke(base, "alice-token", **{REQUEST_CONTEXT_HEADER: '{"authorizer":{},"identity":{}}'})
    assert response.status_code == 403
    body = response.json()
    assert (body["error"], body["message"]) == ("Forbidden", "the request carries no caller identity")
    assert backend.opened == []


def test_the_same_session_id_from_two_callers_reaches_two_sessions_and_guessing_gets_nothing(backend, access_log):
    with behind_gateway("cognito", "aws_proxy", backend, access_log) as (api, _):
        for token in ("alice-token", "bob-token", "alice-token"):
            assert invoke(api, token).status_code == 200
    alice_first, bob, alice_again = sessions(backend)
    assert alice_first == alice_again  # a caller continues their own session
    assert bob != alice_first  # bob, knowing alice's session_id, reaches a session of his own
    for session in (alice_first, bob):
        assert 33 <= len(session) <= 256
        assert SESSION_ID.fullmatch(session)


def test_without_an_authorizer_the_session_id_is_used_as_the_client_sent_it(serve, backend, access_log):
    with serve(backend) as base:
        response = httpx.post(base + "/invoke", json={"prompt": "hi", "session_id": SESSION})
    assert response.status_code == 200
    assert sessions(backend) == [SESSION]
    assert access_log.records()[-1]["caller"] is None


@pytest.mark.parametrize(
    ("via", "headers", "expected"),
    [
        ("header", {"x-streamgate-caller": "user-1"}, "user-1"),
        # API Gateway may render a JWT claim as JSON text.
        ("header", {"x-streamgate-caller": '"user-1"'}, "user-1"),
        ("header", {}, None),
        ("request_context", {"x-amzn-request-context": "not json"}, None),
        ("request_context", {"x-amzn-request-context": '{"authorizer":{"claims":{"sub":7}}}'}, None),
        ("request_context", {"x-amzn-request-context": '{"authorizer":{"claims":{"sub":"user-1"}}}'}, "user-1"),
    ],
)
def test_the_caller_is_read_only_from_its_source_and_only_as_a_string(via, headers, expected):
    assert CallerSource("cognito", via).caller(headers) == expected


def test_scoped_session_ids_keep_callers_apart_even_when_the_parts_could_be_rearranged():
    assert scoped_session_id("a", "b" * 33) != scoped_session_id("a" + "b", "b" * 32)
    assert scoped_session_id(None, SESSION) == SESSION
