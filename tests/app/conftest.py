from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from handler.app import create_app
from handler.backends import Backend
from handler.settings import Settings
from tests.fakes import FakeAgentCore
from tests.fakes.api_gateway import FakeApiGateway
from tests.loopback import eventually, serve_in_thread


class AccessLogLines(io.StringIO):
    def records(self, at_least: int = 1) -> list[dict]:
        """The log lines so far; the server writes each one just after the response, so allow a moment."""
        eventually(lambda: len(self.getvalue().splitlines()) >= at_least, timeout=2)
        return [json.loads(line) for line in self.getvalue().splitlines()]


@pytest.fixture
def access_log() -> AccessLogLines:
    return AccessLogLines()


@pytest.fixture
def serve(access_log: AccessLogLines) -> Callable[..., object]:
    """serve(backend, **settings) -> context manager yielding the base URL of the app under uvicorn."""

    @contextmanager
    def start(backend: Backend | None = None, idle_seconds: float = 5.0, **settings: object) -> Iterator[str]:
        configured = Settings(**settings)  # type: ignore[arg-type]
        app = create_app(configured, backend=backend, log_stream=access_log)
        with serve_in_thread(app, configured.max_connections, idle_seconds) as base:
            yield base

    return start


@pytest.fixture
def through_gateway(serve: Callable[..., object]) -> Callable[..., object]:
    """through_gateway(backend, timing, **settings) -> context manager yielding the API Gateway stand-in
    (`timing`: its keyword arguments, e.g. `EDGE.scaled(0.02)`) with the app behind it."""

    @contextmanager
    def start(backend: Backend, timing: dict, **settings: object) -> Iterator[FakeApiGateway]:
        with serve(backend, **settings) as app_url, FakeApiGateway(app_url, **timing) as gateway:  # type: ignore[attr-defined]
            yield gateway

    return start


@pytest.fixture
def agentcore() -> Iterator[FakeAgentCore]:
    """A loopback AgentCore (tests/fakes/agentcore.py) for the test's backend to call."""
    with FakeAgentCore() as server:
        yield server
