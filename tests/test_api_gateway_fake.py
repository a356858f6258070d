"""The API Gateway stand-in holds an app to API Gateway's and CloudFront's documented timing."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import anyio
import httpx
import pytest

from tests.fakes.api_gateway import EDGE, REGIONAL, FakeApiGateway
from tests.loopback import serve_in_thread


def timed_app(head_after: float, pieces: list[tuple[float | threading.Event, bytes]], sent_at: list | None = None):
    """An ASGI app that sends its headers after `head_after` s, then each (pause, bytes) piece; a pause that is
    a `threading.Event` waits (up to 5 s) for the test to set it. `sent_at` gets the time each piece left."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await anyio.sleep(head_after)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for pause, data in pieces:
            if isinstance(pause, threading.Event):
                await anyio.to_thread.run_sync(pause.wait, 5, abandon_on_cancel=True)
            else:
                await anyio.sleep(pause)
            if sent_at is not None:
                sent_at.append(time.perf_counter())
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


@contextmanager
def through(app, **timing):
    with serve_in_thread(app) as app_url, FakeApiGateway(app_url, **timing) as gateway:
        yield gateway


def test_the_scaled_timings_are_the_documented_ones_shrunk():
    assert REGIONAL.scaled(1) == {"integration_timeout": 900, "idle_timeout": 300, "first_byte_timeout": None}
    assert EDGE.scaled(0.1) == {"integration_timeout": 90, "idle_timeout": 3, "first_byte_timeout": 3}


def test_bytes_pass_as_they_arrive_and_the_status_only_once_the_app_sent_its_headers():
    # Lock-step: the app sends "two" once the client has "one" (or after 5 s), so "one" held in the
    # gateway shows as reaching the client after "two" left the app, however loaded the machine is.
    # The client's own clock is compared: the gateway notes a piece only once its send returns, which
    # on a busy machine can be after the client already has it and the app has sent the next one.
    client_has_one, app_sent = threading.Event(), []
    app = timed_app(0.2, [(0, b"one"), (client_has_one, b"two")], app_sent)
    with through(app, idle_timeout=10) as gateway, httpx.stream("POST", gateway.url + "/x", content=b"{}") as response:
        received, received_at = [], []
        for chunk in response.iter_raw():
            received_at.append(time.perf_counter())
            received.append(chunk)
            client_has_one.set()
    assert (response.status_code, received) == (200, [b"one", b"two"])
    passage = gateway.last
    assert passage.outcome == "completed"
    assert passage.first_byte_after >= 0.2, "HTTP_PROXY sends nothing before the integration's headers"
    (_, one), (_, two) = passage.sent_at[1:]
    assert (one, two) == (b"one", b"two")
    assert received_at[0] < app_sent[1], 'the gateway held "one" until the app sent "two"'


def test_no_headers_within_the_integration_timeout_is_the_gateways_504():
    with through(timed_app(0.5, []), integration_timeout=0.2) as gateway:
        response = httpx.post(gateway.url + "/x", content=b"{}")
    assert (response.status_code, response.json()) == (504, {"message": "Endpoint request timed out"})
    assert gateway.last.outcome == "integration_timeout"


def test_no_first_byte_within_cloudfronts_limit_is_cloudfronts_504():
    with through(timed_app(0.5, []), **EDGE.scaled(0.01)) as gateway:
        response = httpx.post(gateway.url + "/x", content=b"{}")
    assert response.status_code == 504
    assert b"could not be satisfied" in response.content
    assert gateway.last.outcome == "first_byte_timeout"


def test_a_silence_longer_than_the_idle_timeout_cuts_the_stream():
    with (
        through(timed_app(0, [(0, b"early"), (0.5, b"late")]), idle_timeout=0.2) as gateway,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        httpx.post(gateway.url + "/x")
    gateway.last.done.wait(2)
    assert gateway.last.outcome == "idle_timeout"
    assert gateway.last.body == b"early"


def test_a_stream_that_outlasts_the_integration_timeout_is_cut_even_while_it_talks():
    talking = [(0.05, b".")] * 20
    with (
        through(timed_app(0, talking), integration_timeout=0.4, idle_timeout=0.2) as gateway,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        httpx.post(gateway.url + "/x")
    gateway.last.done.wait(2)
    assert gateway.last.outcome == "integration_timeout"
    assert 3 <= len(gateway.last.body) < 20
