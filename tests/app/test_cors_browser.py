"""CORS in a real headless Chromium: a listed origin reads the stream and X-Session-Id after a preflight; an
unlisted one is refused by the browser itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.app.browser import chromium
from tests.app.scripted import ScriptedBackend, Send
from tests.loopback import serve_in_thread

# JSON and an Authorization header make this a non-simple request: the browser preflights it first.
FETCH = """async (api) => {
  try {
    const answer = await fetch(api + "/invoke", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer t0ken"},
      body: JSON.stringify({prompt: "hi", session_id: "browser-session-0123456789-abcdefghij"}),
    });
    return {status: answer.status, body: await answer.text(), session: answer.headers.get("x-session-id")};
  } catch (error) {
    return {refused: String(error)};
  }
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from chromium()


@pytest.fixture
def page_origins() -> Iterator[tuple[str, str]]:
    """One page server reachable as two origins: http://127.0.0.1:P and http://localhost:P."""
    blank = Starlette(routes=[Route("/", lambda request: HTMLResponse("<!doctype html><title>app</title>"))])
    with serve_in_thread(blank) as base:
        port = base.rsplit(":", 1)[1]
        yield f"http://127.0.0.1:{port}", f"http://localhost:{port}"


def fetch_from(browser, origin: str, api: str) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(origin + "/")
        return page.evaluate(FETCH, api)
    finally:
        context.close()


def test_a_listed_origin_reads_the_stream_and_the_session_header_an_unlisted_one_is_refused(
    browser, serve, page_origins
):
    listed, unlisted = page_origins
    backend = ScriptedBackend([Send(b"data: ok\n\n")])
    with serve(backend, cors_allow_origins=(listed,)) as api:
        allowed = fetch_from(browser, listed, api)
        refused = fetch_from(browser, unlisted, api)
    assert allowed == {"status": 200, "body": "data: ok\n\n", "session": "browser-session-0123456789-abcdefghij"}
    assert "refused" in refused
    # The browser preflighted the unlisted origin and stopped there: the backend saw one request only.
    assert len(backend.opened) == 1
