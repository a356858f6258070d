"""The invoke contract every client sees: headers, session ids, and errors before the stream starts."""

from __future__ import annotations

import http.client
import json
import socket

import httpx
import pytest

from handler.contract import SESSION_ID
from tests.app.expect import without_request_id
from tests.app.scripted import ScriptedBackend, Send

SESSION = "session-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def backend() -> ScriptedBackend:
    return ScriptedBackend([Send(b"data: 1\n\n"), Send(b"data: 2\n\n")])


def post(base: str, **kwargs) -> httpx.Response:
    return httpx.post(base + "/invoke", timeout=5, **kwargs)


def test_a_good_request_streams_with_the_contract_headers(serve, backend):
    with serve(backend, cors_allow_origin="https://app.example") as base:
        response = post(base, json={"prompt": "hello", "session_id": SESSION})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-session-id"] == SESSION
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["access-control-expose-headers"] == "X-Session-Id"
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == b"data: 1\n\ndata: 2\n\n"
    assert backend.opened[-1] == ("hello", SESSION)


def test_without_a_session_id_a_fresh_one_long_enough_for_agentcore_is_made(serve, backend):
    with serve(backend) as base:
        first = post(base, json={"prompt": "a"}).headers["x-session-id"]
        second = post(base, json={"prompt": "b"}).headers["x-session-id"]
    assert first != second
    assert len(first) >= 33
    assert SESSION_ID.fullmatch(first)
    assert backend.opened[-1] == ("b", second)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidJson"),
        (b"\xff\xfe", "InvalidJson"),
        (b"[1, 2]", "InvalidJson"),
        (b'"prompt"', "InvalidJson"),
        (b"{}", "InvalidPrompt"),
        (b'{"prompt": ""}', "InvalidPrompt"),
        (b'{"prompt": "   "}', "InvalidPrompt"),
        (b'{"prompt": 42}', "InvalidPrompt"),
        (b'{"prompt": "hi", "session_id": "too-short"}', "InvalidSessionId"),
        (b'{"prompt": "hi", "session_id": 12345}', "InvalidSessionId"),
        (b'{"prompt": "hi", "session_id": "' + b"x" * 257 + b'"}', "InvalidSessionId"),
        (b'{"prompt": "hi", "session_id": "bad id with spaces 0123456789abcdef"}', "InvalidSessionId"),
    ],
)
def test_bad_requests_get_400_with_a_json_error_and_never_reach_the_backend(serve, body, code):
    backend = ScriptedBackend([Send(b"data: never\n\n")])
    with serve(backend) as base:
        response = post(base, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert backend.opened == []


def send_partially(base: str, headers: str, body: bytes) -> tuple[int, dict]:
    """Send a request head and part of a body, then read the answer without sending the rest."""
    host, port = base.removeprefix("http://").split(":")
    head = f"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(head.encode() + body)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        return answer.status, json.loads(answer.read())


def test_a_body_declared_over_the_limit_gets_413_before_any_of_it_is_sent(serve, backend):
    with serve(backend, max_body_bytes=1000) as base:
        status, error = send_partially(base, "Content-Length: 1000000000", b"")
    assert status == 413
    assert error["error"] == "PayloadTooLarge"


def test_a_chunked_body_gets_413_as_soon_as_it_passes_the_limit_without_waiting_for_the_rest(serve, backend):
    first_part = b"%x\r\n%s\r\n" % (5000, b"x" * 5000)
    with serve(backend, max_body_bytes=4096) as base:
        status, error = send_partially(base, "Transfer-Encoding: chunked", first_part)
    assert status == 413
    assert without_request_id(error) == {"error": "PayloadTooLarge", "message": "the body exceeds 4096 bytes"}


def test_a_body_at_the_limit_is_accepted(serve, backend):
    body = b'{"prompt": "' + b"x" * 86 + b'"}'
    assert len(body) == 100
    with serve(backend, max_body_bytes=100) as base:
        assert post(base, content=body).status_code == 200


def test_wrong_method_gets_405_and_unknown_path_404_as_json(serve, backend):
    with serve(backend) as base:
        wrong_method = httpx.get(base + "/invoke")
        unknown = httpx.post(base + "/nowhere", json={"prompt": "x"})
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "MethodNotAllowed"
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "NotFound"


def test_cors_preflight_is_answered_without_touching_the_backend(serve):
    backend = ScriptedBackend([])
    with serve(backend, cors_allow_origin="https://app.example") as base:
        response = httpx.options(base + "/invoke", headers={"origin": "https://app.example"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert backend.opened == []


def test_healthz_answers_without_the_backend(serve):
    backend = ScriptedBackend([])
    with serve(backend) as base:
        response = httpx.get(base + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": "scripted"}
    assert backend.opened == []
