"""`make preview` / `make up`: run pulumi with the Makefile's own uv on PATH and check for what a deploy needs.

Stand-ins for pulumi, docker and uv record how they were called; make itself is real. `-o .venv/.synced` keeps
make from (re)syncing the real venv with the stand-in uv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.loopback import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


@pytest.fixture
def tools(tmp_path: Path) -> dict[str, Path]:
    """A bin/ with pulumi and docker stand-ins, and a uv kept off PATH the way .tools/bin/uv is."""
    bin_dir, uv_dir = tmp_path / "bin", tmp_path / "private-uv"
    bin_dir.mkdir()
    uv_dir.mkdir()
    calls = tmp_path / "calls"
    # The uv the CLI would find: `command -v uv` is what the Pulumi CLI's PATH lookup finds too.
    script(
        bin_dir / "pulumi",
        f'[ "$1" = version ] && {{ echo "${{FAKE_PULUMI_VERSION:-v3.272.0}}"; exit 0; }}\n'
        f'echo "pulumi $* uv=$(command -v uv)" >> {calls}\n',
    )
    script(bin_dir / "docker", f'echo "docker $*" >> {calls}\n')
    script(uv_dir / "uv", "exit 0\n")
    return {"bin": bin_dir, "uv": uv_dir / "uv", "calls": calls}


def make(
    target: str, tools: dict[str, Path], pulumi_version: str = "v3.272.0", **variables: str
) -> subprocess.CompletedProcess[str]:
    path = f"{tools['bin']}:/usr/bin:/bin"
    args = ["make", "--no-print-directory", "-o", ".venv/.synced", target, f"UV={tools['uv']}"]
    args += [f"{key}={value}" for key, value in variables.items()]
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS")}
    env = {**env, "PATH": path, "FAKE_PULUMI_VERSION": pulumi_version}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


# Every preview and update runs under the policy pack (policy/).
@pytest.mark.parametrize(
    ("target", "command"),
    [("preview", "preview --stack dev --diff --policy-pack policy"), ("up", "up --stack dev --policy-pack policy")],
)
def test_pulumi_runs_with_the_makefiles_uv_first_on_path(tools, target, command):
    result = make(target, tools, STACK="dev")
    assert result.returncode == 0, result.stderr
    calls = tools["calls"].read_text().splitlines()
    assert calls[-1] == f"pulumi {command} uv={tools['uv']}"
    assert "docker buildx version" in calls


@pytest.mark.parametrize("target", ["preview", "up"])
def test_without_buildx_the_default_builder_is_refused_before_pulumi_starts(tools, target):
    script(tools["bin"] / "docker", f'echo "docker $*" >> {tools["calls"]}\n[ "$1" != buildx ]\n')
    result = make(target, tools, STACK="dev")
    assert result.returncode != 0
    assert f"make {target}: the default imageBuilder (docker-build) needs Docker with buildx" in result.stderr
    assert not any(line.startswith("pulumi") for line in tools["calls"].read_text().splitlines())


def test_without_the_pulumi_cli_the_target_says_where_to_get_it(tools):
    (tools["bin"] / "pulumi").unlink()
    result = make("preview", tools, STACK="dev")
    assert result.returncode != 0
    assert "make preview: the pulumi CLI is not installed" in result.stderr


def minimum_pulumi() -> str:
    (line,) = [line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("PULUMI_MIN :=")]
    return line.split(":=")[1].strip()


@pytest.mark.parametrize("version", ["v3.199.9", "v3.139.0", "v2.25.2"])
def test_a_pulumi_cli_older_than_the_minimum_is_refused_with_both_versions(tools, version):
    result = make("up", tools, pulumi_version=version, STACK="dev")
    assert result.returncode != 0
    assert f"make up: pulumi {version[1:]} is older than {minimum_pulumi()}" in result.stderr
    assert not tools["calls"].exists() or "pulumi up" not in tools["calls"].read_text()


@pytest.mark.parametrize("version", ["v3.200.0", "v3.272.0", "v4.0.0"])
def test_the_minimum_and_newer_clis_are_accepted(tools, version):
    assert make("preview", tools, pulumi_version=version, STACK="dev").returncode == 0


def test_the_readme_names_the_minimum_cli_version_the_makefile_enforces():
    deploy = (ROOT / "README.md").read_text().split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    assert f"v{minimum_pulumi()} or newer" in deploy
    project = (ROOT / "pyproject.toml").read_text()
    assert f'"pulumi>={minimum_pulumi().rsplit(".", 1)[0]},' in project
