"""The page in a real headless Chromium: the answer grows as it streams, Stop ends it, errors show as errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from handler import events
from handler.backends.demo import STORY, DemoBackend
from handler.sse import event
from handler.upstream import UpstreamError
from handler.wire import sse as wire_sse
from tests.app.browser import chromium
from tests.app.scripted import Fail, Pause, ScriptedBackend, Send
from tests.loopback import eventually

STREAMING = "streaming"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from chromium()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def text(page, hook: str) -> str:
    return page.get_by_test_id(hook).text_content()


def ask(page, prompt: str) -> None:
    page.get_by_test_id("prompt").fill(prompt)
    page.get_by_test_id("send").click()


def ask_until_text_arrives(page, prompt: str) -> None:
    ask(page, prompt)
    assert eventually(lambda: len(text(page, "answer")) > 0)


def wait_until(page, state: str) -> None:
    page.get_by_test_id("state").filter(has_text=state).wait_for()


def ask_once(serve, page, backend, until: str) -> None:
    """Open the page on a fresh app with `backend`, ask, and wait for the turn to reach `until`."""
    with serve(backend) as base:
        page.goto(base + "/")
        ask(page, "hi")
        wait_until(page, until)


def test_the_answer_appears_incrementally_as_the_tokens_arrive(serve, page):
    with serve(DemoBackend(token_delay=0.03)) as base:
        page.goto(base + "/")
        ask(page, "tell me a story")
        lengths = []
        while text(page, "state") in ("ready", STREAMING):
            lengths.append(len(text(page, "answer")))
        final = text(page, "answer")
    growing = sorted(set(lengths) - {0})
    assert len(growing) >= 5, f"saw only {growing} before the end"
    assert lengths == sorted(lengths), "the answer only ever grows"
    assert final == STORY
    assert text(page, "state") == "done (end_turn)"
    assert text(page, "error") == ""


def test_ttfb_and_tokens_per_second_are_shown(serve, page):
    # 0.3 s before the first byte, then 11 tokens 50 ms apart: about 20 tokens/s.
    tokens = [Send(event({"type": "text", "text": f"t{i} "})) for i in range(11)]
    script = [Pause(0.3), *(step for token in tokens for step in (token, Pause(0.05)))]
    ask_once(serve, page, ScriptedBackend([*script, Send(event({"type": "done"}, "done"))]), until="done")
    ttfb, rate = text(page, "ttfb"), text(page, "rate")
    assert ttfb.endswith(" ms")
    assert 300 <= int(ttfb.removesuffix(" ms")) < 3000, ttfb
    assert rate.endswith(" tokens/s")
    assert 5 < float(rate.removesuffix(" tokens/s")) < 100, rate


def test_stop_aborts_the_request_and_the_app_sees_the_client_go(serve, page, access_log):
    with serve(DemoBackend(token_delay=0.2)) as base:
        page.goto(base + "/")
        ask_until_text_arrives(page, "a long one")
        page.get_by_test_id("stop").click()
        wait_until(page, "stopped")
        stopped_at = len(text(page, "answer"))
        time.sleep(0.5)  # two more tokens' worth
        assert len(text(page, "answer")) == stopped_at, "nothing arrives after Stop"
        assert stopped_at < len(STORY)
        page_load, answer = access_log.records(at_least=2)
    assert (page_load["path"], page_load["status"]) == ("/", 200)
    assert (answer["path"], answer["outcome"]) == ("/invoke", "client_gone")
    assert page.get_by_test_id("stop").is_disabled()
    assert page.get_by_test_id("send").is_enabled()


def test_an_error_event_is_shown_as_an_error_never_as_text(serve, page):
    backend = ScriptedBackend(
        [Send(event({"type": "text", "text": "Half an answer"})), Pause(0.05), Fail("ThrottlingException", "slow down")]
    )
    ask_once(serve, page, backend, until="failed")
    assert text(page, "answer") == "Half an answer"
    assert text(page, "error") == "ThrottlingException: slow down"
    assert page.get_by_role("alert").text_content() == "ThrottlingException: slow down"


def test_a_refused_request_shows_the_json_error(serve, page):
    backend = ScriptedBackend([], refuse=UpstreamError("AccessDeniedException", "not allowed"))
    ask_once(serve, page, backend, until="failed")
    assert text(page, "error") == "AccessDeniedException: not allowed"
    assert text(page, "answer") == ""


def test_the_conversation_keeps_its_session_id_across_turns(serve, page):
    backend = ScriptedBackend([Send(event({"type": "text", "text": "ok"})), Send(event({"type": "done"}, "done"))])
    with serve(backend) as base:
        page.goto(base + "/")
        ask(page, "first")
        wait_until(page, "done")
        ask(page, "second")
        eventually(lambda: len(backend.opened) == 2)
        wait_until(page, "done")
        page.get_by_test_id("new").click()
        ask(page, "third")
        eventually(lambda: len(backend.opened) == 3)
    (first, session), (second, same), (third, fresh) = [(r.payload["prompt"], r.session_id) for r in backend.opened]
    assert (first, second, third) == ("first", "second", "third")
    assert same == session
    assert fresh != session
    assert text(page, "history").count("ok") == 0  # "New conversation" cleared the earlier turns


def test_reasoning_and_tool_events_render_apart_from_the_answer(serve, page):
    # The app's own renderer (handler/wire/sse.py), so the page follows the event model as it is.
    script = [
        events.ReasoningDelta("Thinking about weather."),
        events.ToolUseStart(0, "tooluse_1", "get_weather"),
        events.ToolUseDelta(0, '{"city":'),
        events.ToolUseDelta(0, '"Paris"}'),
        events.ToolUseStop(0),
        events.ToolUseStart(1, "tooluse_2", "get_time"),
        events.ToolUseStop(1),
        events.TextDelta("Sunny."),
        events.Done("end_turn"),
    ]
    sends = [Send(wire_sse.render(event)) for event in script]
    # An event may end in CRLF CRLF too (an agent passing its own SSE through).
    sends[7] = Send(b"data: " + json.dumps({"type": "text", "text": "Sunny."}).encode() + b"\r\n\r\n")
    ask_once(serve, page, ScriptedBackend(sends), until="done")
    assert text(page, "reasoning") == "Thinking about weather."
    assert page.get_by_test_id("tool").all_text_contents() == ['⚙ get_weather{"city":"Paris"} ✓', "⚙ get_time ✓"]
    assert text(page, "answer") == "Sunny."
    assert text(page, "state") == "done (end_turn)"


def test_a_guardrail_ends_the_answer_with_its_reason(serve, page):
    script = [Send(wire_sse.render(events.TextDelta("Part"))), Send(wire_sse.render(events.GuardrailIntervened()))]
    ask_once(serve, page, ScriptedBackend(script), until="done")
    assert text(page, "answer") == "Part"
    assert text(page, "state") == "done (guardrail_intervened)"


def test_new_conversation_while_an_answer_streams_leaves_that_turn_behind(serve, page, access_log):
    with serve(DemoBackend(token_delay=0.2)) as base:
        page.goto(base + "/")
        ask_until_text_arrives(page, "old conversation prompt")
        page.get_by_test_id("new").click()
        wait_until(page, "ready")  # not "stopped": the page shows the new conversation
        ask_until_text_arrives(page, "fresh one")
        assert text(page, "history") == "", "the aborted turn came back into the new conversation"
        page.get_by_test_id("stop").click()
        wait_until(page, "stopped")
        _, old, fresh = access_log.records(at_least=3)
    assert old["outcome"] == "client_gone"
    assert fresh["session_id"] != old["session_id"]


def test_events_split_across_reads_with_comments_and_multi_line_data_render_whole(serve, page):
    # Each Send is its own chunk on the wire, the pauses keep them apart; the last event ends in bare CRs,
    # a line ending the spec allows, so nothing but the end of the stream says its blank line is complete.
    script = [
        Send(b': a comment, which clients ignore\n\ndata: {"type": "text", "te'),
        Pause(0.05),
        Send(b'xt": "split "}\n'),
        Pause(0.05),
        Send(b"\ndata: line one\ndata: line two\n\n"),
        Send(b'event: done\rdata: {"type": "done", "stop_reason": "end_turn"}\r\r'),
    ]
    ask_once(serve, page, ScriptedBackend(script), until="done")
    assert text(page, "answer") == "split line one\nline two"
    assert text(page, "state") == "done (end_turn)"
