"""The GitHub Actions workflows: they parse, run what they promise, and trust no moving action ref."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.loopback import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
# The pinning rule: a full commit SHA, or an exact release tag (v4.2.2), never a moving v4 or a branch.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(?:[0-9a-f]{40}|v\d+\.\d+\.\d+)$")
# Permissions a job may be granted, and which of them must be justified by what the job does.
ALLOWED_PERMISSIONS = {"contents": {"read"}, "id-token": {"write"}, "pull-requests": {"write"}}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    return {on: None} if isinstance(on, str) else on


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [step for step in steps(job) if step.get("uses", "").startswith(action + "@")]
    return step


def all_workflows() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        yield path.name, yaml.safe_load(path.read_text())


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in all_workflows():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def test_the_workflows_are_there_and_parse():
    names = {name for name, _ in all_workflows()}
    assert {"test.yml", "preview.yml", "deploy.yml", "up.yml"} <= names
    for name, workflow in all_workflows():
        assert isinstance(workflow.get("name"), str), name
        assert triggers(workflow), name
        assert workflow["jobs"], name


def test_every_job_either_runs_steps_or_calls_a_local_reusable_workflow():
    for name, job_id, job in all_jobs():
        if "uses" in job:
            assert job["uses"].startswith("./.github/workflows/"), (name, job_id)
            assert (ROOT / job["uses"]).is_file(), (name, job_id)
            continue
        assert job.get("runs-on"), (name, job_id)
        assert job.get("timeout-minutes"), (name, job_id)
        assert steps(job), (name, job_id)
        for step in steps(job):
            assert ("uses" in step) != ("run" in step), (name, job_id, step)


def test_every_action_is_pinned_to_an_exact_version_or_commit():
    used = [(name, step["uses"]) for name, _, job in all_jobs() for step in steps(job) if "uses" in step]
    assert used
    unpinned = [(name, ref) for name, ref in used if not PINNED.match(ref)]
    assert unpinned == []


@pytest.mark.parametrize("ref", ["actions/checkout@v4", "actions/checkout@main", "pulumi/actions@v6.6"])
def test_the_pinning_rule_rejects_moving_refs(ref):
    assert not PINNED.match(ref)


def test_permissions_are_read_only_by_default_and_minimal_per_job():
    for name, workflow in all_workflows():
        assert workflow.get("permissions") == {"contents": "read"}, name
    for name, job_id, job in all_jobs():
        granted = job.get("permissions", {})
        for scope, level in granted.items():
            assert level in ALLOWED_PERMISSIONS.get(scope, set()), (name, job_id, scope, level)
        uses = {step.get("uses", "").split("@")[0] for step in steps(job)}
        if granted.get("id-token") == "write" and "uses" not in job:
            assert "aws-actions/configure-aws-credentials" in uses, (name, job_id, "id-token without OIDC")
        if "aws-actions/configure-aws-credentials" in uses:
            assert granted.get("id-token") == "write", (name, job_id)
        if granted.get("pull-requests") == "write":
            assert step_using(job, "pulumi/actions")["with"]["comment-on-pr"] is True, (name, job_id)


def test_aws_credentials_come_from_oidc_with_the_role_and_region_from_repository_variables():
    jobs = [(name, job) for name, _, job in all_jobs() if "uses" not in job]
    configured = [
        (name, step_using(job, "aws-actions/configure-aws-credentials")["with"])
        for name, job in jobs
        if any(step.get("uses", "").startswith("aws-actions/") for step in steps(job))
    ]
    assert {name for name, _ in configured} == {"preview.yml", "up.yml"}
    for name, given in configured:
        assert given["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}", name
        assert given["aws-region"] == "${{ vars.AWS_REGION }}", name
        assert "aws-access-key-id" not in given, name


def test_every_workflow_has_a_concurrency_group():
    for name, workflow in all_workflows():
        groups = [workflow.get("concurrency")] + [job.get("concurrency") for job in workflow["jobs"].values()]
        assert any(groups) or name == "deploy.yml", name  # deploy.yml's jobs run in up.yml's groups


def test_test_workflow_runs_make_test_on_pull_requests_pushes_and_for_deploy():
    workflow = load("test.yml")
    assert {"pull_request", "push", "workflow_call"} <= set(triggers(workflow))
    (job,) = workflow["jobs"].values()
    assert "make test" in [step.get("run") for step in steps(job)]
    step_using(job, "astral-sh/setup-uv")
    assert "cancel-in-progress" in workflow["concurrency"]


def test_preview_comments_a_pulumi_preview_of_dev_and_prod_on_pull_requests():
    workflow = load("preview.yml")
    assert set(triggers(workflow)) == {"pull_request"}
    (job,) = workflow["jobs"].values()
    assert job["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    pulumi = step_using(job, "pulumi/actions")["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["work-dir"] == "."
    assert pulumi["comment-on-pr"] is True
    assert_backend_is_configurable(job, pulumi)


def test_deploy_tests_then_updates_dev_then_prod_on_main_or_by_hand():
    workflow = load("deploy.yml")
    on = triggers(workflow)
    assert on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on
    jobs = workflow["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    assert (jobs["dev"]["needs"], jobs["dev"]["with"]) == ("test", {"stack": "dev"})
    assert (jobs["prod"]["needs"], jobs["prod"]["with"]) == ("dev", {"stack": "prod"})
    for stack in ("dev", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/up.yml"
        assert jobs[stack]["permissions"]["id-token"] == "write"
        assert jobs[stack]["secrets"] == "inherit"


def test_up_runs_in_the_stacks_environment_and_gates_on_streamcheck():
    workflow = load("up.yml")
    assert triggers(workflow)["workflow_call"]["inputs"]["stack"]["required"] is True
    (job,) = workflow["jobs"].values()
    # deploy.yml passes stack: prod, so the prod update waits for the `prod` environment's approval.
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}
    pulumi = step_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "${{ inputs.stack }}"
    assert_backend_is_configurable(job, pulumi["with"])
    names = [step.get("uses", step.get("run", "")) for step in steps(job)]
    check = next(i for i, text in enumerate(names) if "python -m streamcheck" in text)
    assert check > names.index(pulumi["uses"]), "streamcheck runs after the update"
    assert '--stack "${{ inputs.stack }}"' in names[check]
    assert steps(job)[check]["shell"] == "bash", "pipefail keeps streamcheck's exit code through tee"


def assert_backend_is_configurable(job: dict[str, Any], pulumi: dict[str, Any]) -> None:
    """Pulumi Cloud by token, or a self-managed backend (e.g. s3://) by URL: both wired, neither required."""
    assert pulumi["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert job["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_no_workflow_runs_untrusted_pull_request_code_with_secrets():
    for name, workflow in all_workflows():
        assert "pull_request_target" not in triggers(workflow), name
    preview = next(iter(load("preview.yml")["jobs"].values()))
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_workflows_are_plain_text_without_tabs():
    for path in WORKFLOWS.glob("*.y*ml"):
        assert "\t" not in path.read_text(), path.name


@pytest.mark.parametrize("name", ["preview.yml", "up.yml"])
def test_jobs_that_run_the_program_set_up_buildx_and_arm64_emulation_before_pulumi(name):
    # pulumi-docker-build's Image builds on preview as well as on up (buildOnPreview defaults to true), with
    # BuildKit; the default arm64 platform on an x86_64 runner needs QEMU's binfmt handlers.
    (job,) = load(name)["jobs"].values()
    order = [step.get("uses", "").split("@")[0] for step in steps(job)]
    qemu = step_using(job, "docker/setup-qemu-action")
    assert "arm64" in qemu["with"]["platforms"]
    step_using(job, "docker/setup-buildx-action")
    pulumi = order.index("pulumi/actions")
    assert order.index("docker/setup-qemu-action") < pulumi
    assert order.index("docker/setup-buildx-action") < pulumi
