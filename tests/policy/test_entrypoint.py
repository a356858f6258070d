"""The pack starts the way the Pulumi CLI starts it, and answers the engine's gRPC calls."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from policy.pack import NAME, POLICIES
from tests.loopback import ROOT

PACK = ROOT / "policy"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    # What pulumi-language-python's RunPlugin does for a policy pack: `python -u -m pulumi.policy <engine> <dir>`,
    # in the pack's directory; the pack prints the port of its analyzer server on its first line.
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", str(PACK)],
        cwd=PACK,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert port.isdigit(), process.stderr.read() if process.poll() is not None else port  # type: ignore[union-attr]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.kill()
        process.wait(timeout=30)


def test_the_pack_file_runs_python_in_the_projects_uv_environment_with_a_version():
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "uv"}}
    assert project["version"].count(".") == 2
    assert (ROOT / "uv.lock").is_file(), "the uv toolchain finds the lock one level up and uses its .venv"


def test_the_running_pack_names_every_policy_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == NAME
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in POLICIES)
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_the_running_pack_refuses_a_tagged_image_over_grpc(analyzer):
    properties = json_format.ParseDict(
        {"packageType": "Image", "imageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/handler:dev"},
        struct_pb2.Struct(),
    )
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:lambda/function:Function",
        properties=properties,
        urn="urn:pulumi:dev::streamgate::aws:lambda/function:Function::handler",
        name="handler",
    )
    (diagnostic,) = analyzer.Analyze(request, timeout=30).diagnostics
    assert (diagnostic.policyName, diagnostic.enforcementLevel) == ("image-by-digest", analyzer_pb2.MANDATORY)
    assert "by tag" in diagnostic.message
    assert diagnostic.policyPackName == NAME
