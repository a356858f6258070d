"""`/healthz` 200 means the first request's path is loaded: with provisioned concurrency Lambda freezes
the environment right after readiness, and whatever loads later loads on the first caller's time."""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from handler import warm_up
from tests.fakes import FakeAgentCore, FakeBedrockRuntime
from tests.fakes.agentcore import sse, sse_event
from tests.fakes.bedrock import converse
from tests.loopback import ROOT, free_port

# In a fresh interpreter: `python -m handler` on a thread, then what the first request imports.
FIRST_REQUEST = """
import gc, http.client, json, os, sys, threading, time
from handler import allocator
from handler.__main__ import main

kept = []  # what main's allocator.keep_buffers() returned
keep_buffers = allocator.keep_buffers
allocator.keep_buffers = lambda: kept.append(keep_buffers()) or kept[-1]

collector_at_start = gc.isenabled()
threading.Thread(target=main, daemon=True).start()
port = int(sys.argv[1])

def call(method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
    answer = connection.getresponse()
    return answer.status, answer.read()

while True:
    try:
        if call("GET", "/healthz")[0] == 200:
            break
    except OSError:
        time.sleep(0.01)
collector_when_ready, frozen_when_ready = gc.isenabled(), gc.get_freeze_count()
before = set(sys.modules)
status, body = call("POST", "/invoke", b'{"prompt": "first"}')
report = {
    "status": status,
    "body": body.decode(),
    "imported": sorted(set(sys.modules) - before),
    "collector": {"at start": collector_at_start, "when ready": collector_when_ready, "frozen": frozen_when_ready},
    "allocator kept buffers": kept,
}
with open(sys.argv[2], "w") as out:  # not stdout: the access log shares it
    json.dump(report, out)
# Not a normal exit: finalizing the interpreter while the daemon thread still serves can crash it
# (SIGSEGV, seen once in a loaded run); the report is written and closed, nothing else is wanted.
os._exit(0)
"""


def first_request(env: dict[str, str], report: Path) -> dict:
    port = free_port()
    child = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST, str(port), str(report)],
        cwd=ROOT,
        env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(report.read_text())


@pytest.mark.parametrize("backend", ["agentcore", "bedrock", "demo"])
def test_the_first_request_after_readiness_imports_nothing(backend, tmp_path):
    with FakeAgentCore() as agent, FakeBedrockRuntime() as model:
        agent.respond_with(sse([sse_event({"text": "hi"})]))
        model.respond_with(converse(["hi"]))
        env = {
            **agent.env,
            **model.env,
            "BACKEND": backend,
            "AGENT_RUNTIME_ARN": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef",
            "MODEL_ID": "anthropic.claude-3-haiku-20240307-v1:0",
            "DEMO_TOKEN_DELAY": "0",
        }
        first = first_request(env, tmp_path / "report.json")
    assert first["status"] == 200
    assert '"hi"' in first["body"] or backend == "demo"
    assert first["imported"] == []


def test_start_up_runs_without_the_cyclic_collector_and_serving_with_it(tmp_path):
    """Start-up's objects live as long as the process: the collector is off while they are made (it would
    walk them over and over, a tenth of a cold start), and they are frozen out of its sight before the
    app says it is ready, so no full collection walks them while streams are under way."""
    first = first_request({"BACKEND": "demo", "DEMO_TOKEN_DELAY": "0"}, tmp_path / "report.json")
    assert first["collector"]["at start"] is False
    assert first["collector"]["when ready"] is True
    assert first["collector"]["frozen"] > 10_000, "start-up's objects are not frozen"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's settings are glibc's")
def test_start_up_tells_glibc_to_keep_freed_megabytes(tmp_path):
    """See test_allocator: a fast answer's buffers are reused, not faulted in again page by page."""
    first = first_request({"BACKEND": "demo", "DEMO_TOKEN_DELAY": "0"}, tmp_path / "report.json")
    assert first["allocator kept buffers"] == [True]


def test_the_heap_is_settled_only_after_a_start_up_without_the_collector():
    """In-process apps (tests, other servers) keep their collector as it was: nothing of theirs is frozen."""
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    warm_up.settle_heap()
    assert (gc.isenabled(), gc.get_freeze_count()) == (True, frozen)
    gc.disable()
    try:
        warm_up.settle_heap()
        assert gc.isenabled()
        assert gc.get_freeze_count() > frozen
    finally:
        gc.enable()
        gc.unfreeze()


def test_an_agent_backends_app_never_loads_the_event_model_or_its_renderers():
    """They are a model backend's alone (about 10 ms of an agent's cold start on Python 3.11)."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, handler.app; print(' '.join(sorted(sys.modules)))"],
        cwd=ROOT,
        env={
            **os.environ,
            "BACKEND": "agentcore",
            "AGENT_RUNTIME_ARN": "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert "handler.relay" in loaded
    for model_only in ("handler.events", "handler.model_routes", "handler.wire.openai", "handler.wire.sse"):
        assert model_only not in loaded
