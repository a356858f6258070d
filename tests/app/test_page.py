"""`GET /` serves the streaming page: one HTML response with its script inlined, locked down by its own CSP."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess

import httpx
import pytest

from handler.settings import ConfigError, Settings
from tests.app import browser
from tests.loopback import ROOT


def test_the_page_is_one_html_response_with_the_script_inlined_and_no_outside_resources(serve):
    with serve() as base:
        page = httpx.get(base + "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    for hook in ("prompt", "send", "stop", "answer", "ttfb"):
        assert f'data-testid="{hook}"' in html
    assert "<!-- app.js -->" not in html
    assert "new SseParser(" in html
    # No CDN, no build output: nothing is loaded from anywhere else.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert not re.search(r"<script[^>]+src=", html)


def test_the_content_security_policy_allows_exactly_the_inlined_script_and_style(serve):
    with serve() as base:
        page = httpx.get(base + "/")
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    script = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL).group(1)
    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL).group(1)

    def sha256(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == sha256(script)
    assert policy["style-src"] == sha256(style)
    assert policy["frame-ancestors"] == "'none'"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_with_the_web_ui_off_there_is_no_page(serve):
    with serve(web_ui=False) as base:
        page = httpx.get(base + "/")
        assert httpx.get(base + "/healthz").status_code == 200
    assert page.status_code == 404
    assert page.json()["error"] == "NotFound"


def test_web_ui_is_read_from_the_environment_and_on_by_default():
    assert Settings.from_env({}).web_ui is True
    assert Settings.from_env({"WEB_UI": "false"}).web_ui is False
    assert Settings.from_env({"WEB_UI": "1"}).web_ui is True
    with pytest.raises(ConfigError, match=r"^WEB_UI='maybe' is not one of true, false$"):
        Settings.from_env({"WEB_UI": "maybe"})


def test_without_chromium_the_browser_tests_report_as_skipped(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        next(browser.chromium())


def ci_run_with(tmp_path, *programs: str) -> list[str]:
    """`.ci/run` as root with apt, `programs` on PATH besides the stubs: what apt-get and make were asked."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    for name, body in {
        "id": "echo 0",
        "apt-get": f'echo "apt-get $*" >> {calls}',
        "make": f'echo "make $*" >> {calls}',
        "dirname": 'echo "${1%/*}"',
    }.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    for program in programs:
        (stubs / program).symlink_to(shutil.which(program) or "/bin/true")
    subprocess.run(["/bin/bash", str(ROOT / ".ci" / "run")], env={"PATH": str(stubs)}, check=True, timeout=30)
    return calls.read_text().splitlines()


def test_ci_installs_what_the_skipping_suites_need_before_it_runs_them(tmp_path):
    asked = ci_run_with(tmp_path)
    wanted = ([] if browser.CHROMIUM.exists() else ["chromium"]) + ["nodejs"]  # no node among the stubs
    assert asked[0] == "apt-get update -qq"
    assert asked[1] == "apt-get install -y -qq --no-install-recommends " + " ".join(wanted)
    assert asked[2:] == ["make test"]


def test_ci_installs_nothing_when_nothing_is_missing(tmp_path):
    if not browser.CHROMIUM.exists():
        pytest.skip("this machine has no chromium, so CI would install it")
    assert ci_run_with(tmp_path, "node") == ["make test"]
