"""`/healthz` 200 means the first request's path is loaded: with provisioned concurrency Lambda freezes
the environment right after readiness, and whatever loads later loads on the first caller's time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import FakeAgentCore, FakeBedrockRuntime
from tests.fakes.agentcore import sse, sse_event
from tests.fakes.bedrock import converse
from tests.loopback import ROOT, free_port

# In a fresh interpreter: `python -m handler` on a thread, then what the first request imports.
FIRST_REQUEST = """
import http.client, json, os, sys, threading, time
from handler.__main__ import main

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
before = set(sys.modules)
status, body = call("POST", "/invoke", b'{"prompt": "first"}')
report = {"status": status, "body": body.decode(), "imported": sorted(set(sys.modules) - before)}
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
