"""The README's client examples work as written: each runs against the demo app on loopback."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess

import pytest

from handler.app import create_app
from handler.backends.demo import STORY, DemoBackend
from handler.settings import Settings
from tests.loopback import ROOT, serve_in_thread

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def example(language: str, marker: str) -> str:
    (code,) = [
        code for lang, code in BLOCK.findall((ROOT / "README.md").read_text()) if lang == language and marker in code
    ]
    return code


@pytest.fixture(scope="module")
def api():
    with serve_in_thread(create_app(Settings(), DemoBackend(0), io.StringIO())) as base:
        yield base + "/invoke"


def run_python(code: str, **names: str) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), dict(names))
    return printed.getvalue()


def test_the_httpx_sse_example_prints_the_answer_and_stops_at_done(api):
    printed = run_python(example("python", "connect_sse"), API=api)
    assert printed.startswith(STORY)
    assert "'stop_reason': 'end_turn'" in printed


def test_the_openai_sdk_example_streams_from_the_stage_url(api):
    assert run_python(example("python", "from openai import OpenAI"), API=api, API_KEY="key") == STORY


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the browser example's fetch code")
def test_the_fetch_example_streams_and_resolves_with_done(api):
    code = example("javascript", "getReader")
    harness = f"const API = {api!r};\nconst document = {{ body: {{ append: (t) => process.stdout.write(t) }} }};\n"
    run = subprocess.run(["node", "-e", harness + code], capture_output=True, text=True, timeout=30, check=True)
    assert run.stdout.startswith(STORY)
    assert "stop_reason: 'end_turn'" in run.stdout
