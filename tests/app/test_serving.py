"""Serving outside Lambda: loopback by default, stalled bodies answered, idle sockets unable to crowd out
`/healthz`, busy servers refusing quickly, and HTTP/1.0 clients reading a body they understand."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time

import httpx

from tests.app.expect import without_request_id
from tests.app.scripted import Pause, ScriptedBackend, Send
from tests.loopback import address, eventually, send_invoke, serve_process

PROMPT = b'{"prompt": "go"}'
# Lambda's limit on file descriptors per execution environment.
LAMBDA_FILE_DESCRIPTORS = 1024
WITH_LAMBDAS_FD_LIMIT = [
    sys.executable,
    "-c",
    "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024)); "
    "runpy.run_module('handler', run_name='__main__')",
]


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on `port`, from /proc/net/tcp{,6} (hex, as the kernel writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                host, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(host)
    return found


def raw_exchange(base: str, request: bytes, timeout: float = 5) -> bytes:
    """Send `request` as is and read until the server closes the connection."""
    with socket.create_connection(address(base), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while data := connection.recv(65536):
            answer += data
    return answer


def test_python_m_handler_listens_on_loopback_only_unless_host_says_otherwise():
    with serve_process({"BACKEND": "demo", "HOST": ""}) as (base, _):
        assert listening_addresses(address(base)[1]) == {"0100007F"}, "bound to 127.0.0.1 only"


def test_a_body_that_stalls_is_answered_408_json_and_the_connection_closed(serve):
    backend = ScriptedBackend([Send(b"data: x\n\n")])
    with serve(backend, body_timeout_seconds=0.3) as base:
        started = time.perf_counter()
        head = (
            b"POST /invoke HTTP/1.1\r\nHost: x\r\nOrigin: https://site.example\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        answer = raw_exchange(base, head + b'{"prompt"')
        waited = time.perf_counter() - started
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    error = without_request_id(json.loads(body))
    assert error == {"error": "RequestTimeout", "message": "the body did not arrive within 0.3 seconds"}
    assert b"connection: close" in headers.lower()
    assert b"access-control-allow-origin: *" in headers.lower()
    assert 0.3 <= waited < 3
    assert backend.opened == []


def test_a_client_that_leaves_while_its_body_is_read_is_logged_as_gone_not_as_an_error(serve, access_log, caplog):
    backend = ScriptedBackend([Send(b"data: x\n\n")])
    with serve(backend) as base:
        with socket.create_connection(address(base)) as connection:
            connection.sendall(b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            time.sleep(0.1)
        (record,) = access_log.records()
    assert (record["outcome"], record["status"]) == ("client_gone", 499)
    assert "error" not in record
    assert not [line for line in caplog.records if line.levelname == "ERROR"]
    assert backend.opened == []


def test_sockets_that_never_send_a_request_are_closed_after_the_idle_timeout(serve):
    with serve(ScriptedBackend([]), idle_seconds=0.2) as base, socket.create_connection(address(base), 5) as idle:
        started = time.perf_counter()
        assert idle.recv(1) == b"", "the server closed the silent connection"
        waited = time.perf_counter() - started
    assert 0.15 <= waited < 3


def test_1100_idle_sockets_under_lambdas_fd_limit_do_not_make_healthz_unreachable():
    with serve_process({"BACKEND": "demo", "MAX_CONNECTIONS": "512"}, argv=WITH_LAMBDAS_FD_LIMIT) as (base, app):
        idle = []
        try:
            for _ in range(1100):
                idle.append(socket.create_connection(address(base), timeout=5))
            # The newest take the place of the longest idle ones, so the app's descriptors stay bounded.
            assert eventually(lambda: len(list(_fds(app.pid))) < 600, timeout=5), "idle sockets were not shed"
            started = time.perf_counter()
            health = httpx.get(base + "/healthz", timeout=5)
            assert health.status_code == 200
            # Answered by shedding an idle socket, not by waiting for one to time out: within half of
            # python -m handler's 5 s idle timeout, room for a loaded machine (1.1 s at -n 4, load 8).
            assert time.perf_counter() - started < 2.5
        finally:
            for connection in idle:
                connection.close()


def test_when_every_connection_is_busy_a_newcomer_gets_a_quick_503_json(serve):
    backend = ScriptedBackend([Send(b"data: x\n\n"), Pause(30)])
    with serve(backend, max_connections=2, heartbeat_seconds=60) as base, contextlib.ExitStack() as streams:
        for _ in range(2):
            stream = streams.enter_context(send_invoke(base, PROMPT, timeout=5))
            assert stream.recv(12) == b"HTTP/1.1 200"
        started = time.perf_counter()
        refused = httpx.get(base + "/healthz", timeout=5)
        waited = time.perf_counter() - started
    assert refused.status_code == 503
    assert refused.json()["error"] == "ServerBusy"
    assert refused.headers["retry-after"] == "1"
    assert waited < 1


def test_an_http_1_0_client_gets_the_stream_without_chunked_coding_ended_by_the_close(serve):
    backend = ScriptedBackend([Send(b"data: one\n\n"), Pause(0.05), Send(b"data: two\n\n")])
    with serve(backend) as base:
        request = b"POST /invoke HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
        answer = raw_exchange(base, request % (len(PROMPT), PROMPT))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == b"data: one\n\ndata: two\n\n"


def _fds(pid: int) -> list[str]:
    return os.listdir(f"/proc/{pid}/fd")
