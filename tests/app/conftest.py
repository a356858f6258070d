from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from handler.app import create_app
from handler.backends import Backend
from handler.settings import Settings
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
