"""A request's objects are freed the moment it ends, by reference counting, not left in reference cycles
for the cyclic garbage collector: its collections hold the GIL (a 38 ms full one was seen under sixteen
streams opening at once) while every other stream's next event waits.

Each test serves real requests through uvicorn, with the clients the app makes in production (botocore's
session, set up by `aws.make_client`), and counts what the collector finds behind them.
"""

from __future__ import annotations

import gc
import http.client
import json
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from handler.backends.agentcore import AgentCoreBackend
from handler.backends.bedrock import BedrockBackend
from handler.backends.demo import DemoBackend
from tests.fakes import Abort, FakeAgentCore, FakeBedrockRuntime, Pause
from tests.fakes.agentcore import error, json_answer, sse, sse_event
from tests.fakes.bedrock import converse
from tests.loopback import eventually, send_invoke

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
SESSION = "c" * 40
PROMPT = b'{"prompt": "go"}'
# Whose objects count: the app's and its server's and AWS clients', not the test's HTTP client's.
OURS = ("handler", "uvicorn", "starlette", "botocore", "urllib3", "http.client", "socket", "asyncio", "uvloop")


def cyclic_garbage(requests: Callable[[], object], times: int = 3) -> Counter[str]:
    """The app's objects that only the cyclic collector would free after `requests()` ran `times` times
    (once more beforehand, so what a first request loads for good is not counted)."""
    requests()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(times):
            requests()
        gc.collect()
        found = Counter(f"{type(thing).__module__}.{type(thing).__qualname__}" for thing in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return Counter({name: count for name, count in found.items() if name.startswith(OURS)})


@pytest.fixture
def agentcore(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAgentCore]:
    with FakeAgentCore().for_this_process(monkeypatch) as fake:
        yield fake


def post(base: str, path: str = "/invoke", body: dict | None = None, status: int = 200) -> Callable[[], bytes]:
    """A POST read to its end by http.client, which (unlike httpx without a pooled client) leaves no
    cycles of its own to count."""

    def read() -> bytes:
        parts = urlsplit(base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            connection.request("POST", path, json.dumps(body or {"prompt": "go"}), {"Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == status
            return answer.read()
        finally:
            connection.close()

    return read


def test_an_agent_stream_read_to_its_end_leaves_no_cycles(agentcore, serve):
    agentcore.respond_with(sse([sse_event({"i": i}) for i in range(5)]))
    with serve(AgentCoreBackend(ARN), heartbeat_seconds=60) as base:
        assert cyclic_garbage(post(base, body={"prompt": "go", "session_id": SESSION})) == {}


def test_an_agent_answer_in_one_json_body_leaves_no_cycles(agentcore, serve):
    agentcore.respond_with(json_answer({"answer": "42"}))
    with serve(AgentCoreBackend(ARN), heartbeat_seconds=60) as base:
        assert cyclic_garbage(post(base)) == {}


def test_an_agent_refusing_the_call_leaves_no_cycles(agentcore, serve):
    agentcore.respond_with(error("ThrottlingException", "slow down"))
    with serve(AgentCoreBackend(ARN), heartbeat_seconds=60) as base:
        assert cyclic_garbage(post(base, status=429)) == {}


def test_an_agent_answer_breaking_off_mid_stream_leaves_no_cycles(agentcore, serve):
    agentcore.respond_with(sse([sse_event({"i": 0}), Abort()]))
    with serve(AgentCoreBackend(ARN), heartbeat_seconds=60) as base:
        assert cyclic_garbage(post(base)) == {}


def test_an_agent_stream_to_an_http_1_0_client_leaves_no_cycles(agentcore, serve):
    agentcore.respond_with(sse([sse_event({"i": i}) for i in range(5)]))
    with serve(AgentCoreBackend(ARN), heartbeat_seconds=60) as base:

        def read_as_http_1_0() -> bytes:
            with send_invoke(base, PROMPT, http_version="1.0") as sock:
                answer = http.client.HTTPResponse(sock)
                answer.begin()
                assert answer.status == 200
                return answer.read()

        assert cyclic_garbage(read_as_http_1_0) == {}


def test_a_client_leaving_mid_stream_leaves_no_cycles(agentcore, serve, access_log):
    agentcore.respond_with(sse([sse_event({"i": 0}), Pause(30)]))
    left = 0
    with serve(AgentCoreBackend(ARN), heartbeat_seconds=60) as base:

        def leave_after_the_first_event() -> None:
            nonlocal left
            with send_invoke(base, PROMPT) as sock:
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            left += 1
            # Counted once the app has let go of it (its access-log line is written at the very end) and
            # has stopped the agent's session for it.
            eventually(lambda: access_log.getvalue().count('"client_gone"') == left, timeout=5)
            eventually(lambda: len(agentcore.stops) == left, timeout=5)

        assert cyclic_garbage(leave_after_the_first_event) == {}


def test_a_model_stream_leaves_no_cycles(monkeypatch, serve):
    with FakeBedrockRuntime().for_this_process(monkeypatch) as fake:
        fake.respond_with(converse(["Hel", "lo"]))
        with serve(BedrockBackend(MODEL), heartbeat_seconds=60) as base:
            assert cyclic_garbage(post(base)) == {}
            fake.respond_with(converse(["par", "tial"], exception=("throttlingException", "slow down")))
            assert cyclic_garbage(post(base)) == {}
            fake.respond_with(converse(["Hel", "lo"]))
            chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
            assert cyclic_garbage(post(base, "/v1/chat/completions", chat)) == {}
            assert cyclic_garbage(post(base, "/v1/chat/completions", {**chat, "stream": False})) == {}


def test_the_demo_stream_health_checks_and_refusals_leave_no_cycles(serve):
    with serve(DemoBackend(token_delay=0.0), heartbeat_seconds=60) as base:
        assert cyclic_garbage(post(base)) == {}
        assert cyclic_garbage(lambda: urlopen(base + "/healthz", timeout=10).read()) == {}
        assert cyclic_garbage(post(base, body={"prompt": ""}, status=400)) == {}
