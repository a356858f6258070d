"""The image: what the Dockerfile declares is what we test, and its entrypoint serves on the host."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.loopback import ROOT, serve_process

DOCKERFILE = ROOT / "handler" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    pairs = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def declared_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in instructions():
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def declared_cmd() -> list[str]:
    (cmd,) = [rest for keyword, rest in instructions() if keyword == "CMD"]
    return json.loads(cmd)


def test_the_image_uses_the_pinned_base_and_adapter_in_streaming_mode():
    stages = [rest for keyword, rest in instructions() if keyword == "FROM"]
    # The adapter is a named stage (so Dependabot sees its FROM line); the last FROM is the image itself.
    assert stages == [
        "public.ecr.aws/awsguru/aws-lambda-adapter:1.0.0 AS lambda-adapter",
        "public.ecr.aws/docker/library/python:3.13-slim",
    ]
    assert ("COPY", "--from=lambda-adapter /lambda-adapter /opt/extensions/lambda-adapter") in instructions()
    assert not any(":latest" in stage for stage in stages)
    env = declared_env()
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert env["AWS_LWA_READINESS_CHECK_PATH"] == "/healthz"
    assert env["AWS_LWA_ENABLE_COMPRESSION"] == "false"
    assert env["AWS_LWA_PORT"] == env["PORT"] == "8080"


def test_the_image_installs_exactly_the_locked_requirements():
    run = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "pip install --no-cache-dir --require-hashes --no-deps -r requirements.txt" in run
    requirements = (ROOT / "handler" / "requirements.txt").read_text()
    lock = (ROOT / "uv.lock").read_text()
    for package in ("starlette", "uvicorn", "botocore"):
        pinned = next(line for line in requirements.splitlines() if line.startswith(package + "=="))
        version = pinned.split("==")[1].split()[0]
        assert f'name = "{package}"\nversion = "{version}"' in lock


def test_the_image_carries_botocore_without_boto3():
    """The app imports botocore alone (handler/backends/aws.py); boto3 and its s3transfer would be dead weight."""
    pinned = {line.split("==")[0] for line in (ROOT / "handler" / "requirements.txt").read_text().splitlines()}
    assert "botocore" in pinned
    assert not {"boto3", "s3transfer"} & pinned
    imports = re.compile(r"^\s*(?:import|from)\s+boto3\b", re.MULTILINE)
    assert not [path for path in (ROOT / "handler").rglob("*.py") if imports.search(path.read_text())]


def test_the_requirements_file_is_what_uv_exports_from_the_lock_today():
    uv = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    exported = subprocess.run(
        [uv, "export", "--frozen", "--only-group", "handler", "--no-emit-project"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    body = lambda text: [line for line in text.splitlines() if not line.startswith("#")]  # noqa: E731
    assert body(exported.stdout) == body((ROOT / "handler" / "requirements.txt").read_text()), (
        "handler/requirements.txt is stale: run `make requirements`"
    )


def test_the_image_command_serves_the_app_on_the_host():
    command = declared_cmd()
    assert command == ["python", "-m", "handler"]
    env = {**declared_env(), "BACKEND": "demo", "DEMO_TOKEN_DELAY": "0"}
    argv = [sys.executable, *command[1:]]
    with serve_process(env, argv=argv, ready_path=env["AWS_LWA_READINESS_CHECK_PATH"]) as (base, _):
        response = httpx.post(base + "/invoke", json={"prompt": "hello"})
    assert response.status_code == 200
    assert response.content.endswith(b"\n\n")
    assert b"event: done" in response.content


def test_hadolint_finds_nothing():
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_context_leaves_out_caches():
    ignored = (ROOT / "handler" / ".dockerignore").read_text().split()
    assert "**/__pycache__" in ignored
