"""The GitHub Actions workflows: they parse, run what they promise, and trust no moving action ref."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.loopback import ROOT
from tests.workflow_expressions import interpolate, runs

WORKFLOWS = ROOT / ".github" / "workflows"
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
REVIEW_COMMENT = ".github/scripts/review-comment.sh"
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
# The pinning rule: a full commit SHA (a tag can be moved to other code; a commit cannot), with the release it
# is in a comment so people and Dependabot can read it: `uses: owner/repo@<40 hex> # v1.2.3`.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
RELEASE = re.compile(r"^v\d+\.\d+\.\d+$")
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
    assert {"test.yml", "preview.yml", "deploy.yml", "up.yml", "review.yml"} <= names
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


def action_refs() -> list[tuple[str, str, str | None]]:
    """(workflow, owner/repo@ref, the comment after it) for every step that uses an action."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        for line in path.read_text().splitlines():
            match = USES_LINE.match(line)
            if match and not match["ref"].startswith("./"):
                found.append((path.name, match["ref"], match["comment"]))
    return found


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_release_in_a_comment():
    used = [(name, step["uses"]) for name, _, job in all_jobs() for step in steps(job) if "uses" in step]
    assert used
    assert [(name, ref) for name, ref in used if not PINNED.match(ref)] == []
    refs = action_refs()
    assert sorted(ref for _, ref, _ in refs) == sorted(ref for _, ref in used), "every uses: line was read"
    assert [(name, ref, comment) for name, ref, comment in refs if not RELEASE.match(comment or "")] == []


def test_one_release_of_an_action_is_one_commit_everywhere():
    commits: dict[tuple[str, str], set[str]] = {}
    for _, ref, comment in action_refs():
        action, _, sha = ref.partition("@")
        commits.setdefault((action, str(comment)), set()).add(sha)
    assert {key: shas for key, shas in commits.items() if len(shas) > 1} == {}


@pytest.mark.parametrize(
    "ref", ["actions/checkout@v4", "actions/checkout@main", "pulumi/actions@v6.6", "actions/checkout@v6.0.2"]
)
def test_the_pinning_rule_rejects_tags_and_branches(ref):
    assert not PINNED.match(ref)


def test_no_run_block_expands_an_expression_inline():
    """`${{ }}` in a script is pasted into the shell before it runs (template injection); values go in by env:."""
    inline = [
        (name, job_id, step.get("name", step["run"][:40]))
        for name, job_id, job in all_jobs()
        for step in steps(job)
        if "run" in step and "${{" in step["run"]
    ]
    assert inline == []


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
            # Only jobs that comment: pulumi/actions' preview comment, or the review stack's comment script
            # (which holds no cloud credentials).
            runs_script = any(step.get("run") == f"bash {REVIEW_COMMENT}" for step in steps(job))
            pulumi_comments = "pulumi/actions" in uses and step_using(job, "pulumi/actions")["with"].get(
                "comment-on-pr"
            )
            assert runs_script or pulumi_comments is True, (name, job_id)
            if runs_script:
                assert "id-token" not in granted, (name, job_id)
        if "uses" not in job:
            assert "permissions" in job, (name, job_id, "every job says what it may do")


def test_aws_credentials_come_from_oidc_with_the_role_and_region_from_repository_variables():
    jobs = [(name, job) for name, _, job in all_jobs() if "uses" not in job]
    configured = [
        (name, step_using(job, "aws-actions/configure-aws-credentials")["with"])
        for name, job in jobs
        if any(step.get("uses", "").startswith("aws-actions/") for step in steps(job))
    ]
    assert {name for name, _ in configured} == {"preview.yml", "up.yml", "review.yml"}
    for name, given in configured:
        assert given["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}", name
        assert given["aws-region"] == "${{ vars.AWS_REGION }}", name
        assert "aws-access-key-id" not in given, name


def test_every_workflow_has_a_concurrency_group():
    for name, workflow in all_workflows():
        groups = [workflow.get("concurrency")] + [job.get("concurrency") for job in workflow["jobs"].values()]
        assert any(groups) or name == "deploy.yml", name  # deploy.yml's jobs run in up.yml's groups


def test_test_workflow_runs_ci_run_on_debian_on_pull_requests_pushes_and_for_deploy():
    workflow = load("test.yml")
    assert {"pull_request", "push", "workflow_call"} <= set(triggers(workflow))
    (job,) = workflow["jobs"].values()
    # .ci/run is `make test` with Debian's chromium installed first, so the browser tests run, not skip.
    assert ".ci/run" in [step.get("run") for step in steps(job)]
    assert job["container"].endswith("/debian:bookworm")
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
    declared = triggers(load("up.yml"))["workflow_call"]["secrets"]
    for stack in ("dev", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/up.yml"
        assert jobs[stack]["permissions"]["id-token"] == "write"
        # Named secrets only, each one up.yml declares: `secrets: inherit` would hand it every secret.
        passed = jobs[stack]["secrets"]
        assert passed == {name: f"${{{{ secrets.{name} }}}}" for name in declared}


def test_up_runs_in_the_stacks_environment_and_gates_on_streamcheck():
    workflow = load("up.yml")
    assert triggers(workflow)["workflow_call"]["inputs"]["stack"]["required"] is True
    (job,) = workflow["jobs"].values()
    # deploy.yml passes stack: prod, so the prod update waits for the `prod` environment's approval.
    assert job["environment"] == "${{ inputs.environment || inputs.stack }}"
    assert job["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}
    assert job["env"]["STACK"] == "${{ inputs.stack }}"
    pulumi = step_using(job, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"] == "${{ inputs.stack }}"
    assert_backend_is_configurable(job, pulumi["with"])
    names = [step.get("uses", step.get("run", "")) for step in steps(job)]
    check = next(i for i, text in enumerate(names) if "python -m streamcheck" in text)
    assert check > names.index(pulumi["uses"]), "streamcheck runs after the update"
    assert '--stack "$STACK"' in names[check]
    assert steps(job)[check]["shell"] == "bash", "pipefail keeps streamcheck's exit code through tee"
    assert 'exit "$status"' in names[check], "the job still fails on streamcheck's verdict"


def test_up_declares_the_secrets_it_reads_and_nothing_else():
    workflow = load("up.yml")
    declared = triggers(workflow)["workflow_call"]["secrets"]
    assert set(declared) == {"PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}
    assert all(spec["required"] is False for spec in declared.values()), "either backend works without the other"
    read = set(re.findall(r"secrets\.([A-Z_]+)", (WORKFLOWS / "up.yml").read_text()))
    assert read == set(declared)


def test_up_starts_a_new_stack_from_another_stacks_settings_only_when_asked():
    workflow = load("up.yml")
    inputs = triggers(workflow)["workflow_call"]["inputs"]
    assert inputs["config-from"]["default"] == ""
    assert inputs["environment"]["default"] == ""
    (job,) = workflow["jobs"].values()
    copy = next(step for step in steps(job) if "CONFIG_FROM" in step.get("env", {}))
    assert copy["if"] == "inputs.config-from != ''"
    assert copy["run"] == 'cp "Pulumi.${CONFIG_FROM}.yaml" "Pulumi.${STACK}.yaml"'
    assert step_using(job, "pulumi/actions")["with"]["upsert"] == "${{ inputs.config-from != '' }}"


def test_up_hands_its_callers_the_url_the_verdict_the_report_and_the_picture():
    workflow = load("up.yml")
    outputs = triggers(workflow)["workflow_call"]["outputs"]
    (job,) = workflow["jobs"].values()
    assert set(outputs) == {"api-url", "verdict", "report", "timeline-url"} == set(job["outputs"])
    by_id = {step["id"]: step for step in steps(job) if "id" in step}
    for name, value in job["outputs"].items():
        step_id = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", value)
        assert step_id, name
        assert step_id[1] in by_id, name
    assert by_id["timeline"]["if"] == "always()", "the picture is kept when streamcheck fails too"
    assert "timeline.png" in by_id["timeline"]["with"]["path"]


def test_every_pulumi_preview_and_update_runs_the_policy_pack():
    runs = [
        (name, step["with"])
        for name, _, job in all_jobs()
        for step in steps(job)
        if step.get("uses", "").startswith("pulumi/actions@") and step.get("with", {}).get("command")
    ]
    assert {(name, given["command"]) for name, given in runs} >= {("preview.yml", "preview"), ("up.yml", "up")}
    for name, given in runs:
        if given["command"] in ("preview", "up"):
            assert given["policyPacks"] == "${{ github.workspace }}/policy", name
    assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()


def assert_backend_is_configurable(job: dict[str, Any], pulumi: dict[str, Any]) -> None:
    """Pulumi Cloud by token, or a self-managed backend (e.g. s3://) by URL: both wired, neither required."""
    assert pulumi["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert job["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
    assert job["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_no_workflow_runs_untrusted_pull_request_code_with_secrets():
    for name, workflow in all_workflows():
        assert "pull_request_target" not in triggers(workflow), name
    preview = next(iter(load("preview.yml")["jobs"].values()))
    assert preview["if"] == SAME_REPOSITORY
    for job_id, job in load("review.yml")["jobs"].items():
        assert SAME_REPOSITORY in job["if"], job_id


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


# --- the linters: what `make lint` and the test workflow run on the workflows ---------------------------------


def tool(name: str) -> str:
    """A dev dependency's command, from this venv (uv run puts it on PATH in `make lint`)."""
    path = shutil.which(name, path=str(Path(ROOT / ".venv" / "bin"))) or shutil.which(name)
    assert path, f"{name} is a dev dependency: `uv sync` installs it"
    return path


def zizmor(target: Path) -> subprocess.CompletedProcess[str]:
    command = [tool("zizmor"), "--offline", "--min-severity", "medium", "--no-progress", "--format", "plain"]
    return subprocess.run([*command, str(target)], capture_output=True, text=True, timeout=60, check=False)


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("actionlint"), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def test_make_lint_runs_zizmor_offline_at_medium_and_actionlint():
    recipe = subprocess.run(
        ["make", "-n", "lint"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "zizmor --offline --min-severity medium .github/" in recipe
    assert re.search(r"\bactionlint$", recipe, re.MULTILINE)
    workflow = load("test.yml")
    (job,) = workflow["jobs"].values()
    assert "make lint" in [step.get("run") for step in steps(job)]


def test_zizmor_finds_nothing_at_medium_or_above_in_the_workflows_and_dependabot_config():
    result = zizmor(ROOT / ".github")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_clean_with_shellcheck_reading_the_scripts():
    assert tool("shellcheck"), "actionlint checks run: scripts only when shellcheck is on PATH"
    result = actionlint(*sorted(WORKFLOWS.glob("*.y*ml")))
    assert result.returncode == 0, result.stdout + result.stderr


UNSAFE = """\
name: unsafe
on:
  pull_request:
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v6.0.2
        with:
          persist-credentials: false
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_the_gate_catches_a_tag_pinned_action_and_an_injected_expression(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "unsafe.yml").write_text(UNSAFE)
    result = zizmor(tmp_path / ".github")
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout
    assert "template-injection" in result.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(UNSAFE.replace("runs-on: ubuntu-latest", "runs-on: ubuntu-latest\n    needs: nowhere"))
    result = actionlint(broken)
    assert result.returncode == 1
    assert "nowhere" in result.stdout


# --- Dependabot -----------------------------------------------------------------------------------------------


def test_dependabot_keeps_the_actions_the_uv_lock_and_the_dockerfile_base_images_current():
    config = yaml.safe_load(DEPENDABOT.read_text())
    assert config["version"] == 2
    updates = {(update["package-ecosystem"], update["directory"]): update for update in config["updates"]}
    assert set(updates) == {("github-actions", "/"), ("uv", "/"), ("docker", "/handler")}
    for update in updates.values():
        assert update["schedule"]["interval"] in {"daily", "weekly"}
        assert update["cooldown"]["default-days"] >= 7, "a fresh release waits a week before it is proposed"
    assert (ROOT / "uv.lock").is_file()
    dockerfile = (ROOT / "handler" / "Dockerfile").read_text()
    # Dependabot's docker ecosystem reads FROM lines only: every image the build uses is named in one.
    copied = re.findall(r"^COPY --from=(\S+)", dockerfile, re.MULTILINE)
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    assert copied
    assert set(copied) <= stages


# --- review stacks: one per labelled same-repository pull request ----------------------------------------------

LABEL = "review-stack"


def pull_request_event(
    action: str,
    labels: tuple[str, ...] = (LABEL,),
    label: str | None = None,
    *,
    fork: bool = False,
    state: str = "open",
) -> dict[str, Any]:
    """The expression context of a pull_request event, as GitHub builds it (webhook payload under github.event)."""
    head = "someone/streamgate" if fork else "acme/streamgate"
    return {
        "github": {
            "repository": "acme/streamgate",
            "run_id": 4242,
            "event": {
                "action": action,
                "label": {"name": label} if label else None,
                "pull_request": {
                    "number": 12,
                    "state": state,
                    "labels": [{"name": name} for name in labels],
                    "head": {"repo": {"full_name": head}, "sha": "0" * 40},
                },
            },
        }
    }


def review_decisions(context: dict[str, Any]) -> tuple[set[str], str]:
    """Which of review.yml's jobs run for this event, and the run's concurrency group."""
    workflow = load("review.yml")
    jobs = workflow["jobs"]
    ran = {job_id for job_id in ("deploy", "teardown") if runs(jobs[job_id]["if"], context)}
    needs = {job_id: {"result": "success" if job_id in ran else "skipped"} for job_id in ("deploy", "teardown")}
    if runs(jobs["comment"]["if"], {**context, "needs": needs}):
        ran.add("comment")
    return ran, interpolate(workflow["concurrency"]["group"], context)


STACK_GROUP = "review-stack-12-stack"
IDLE_GROUP = "review-stack-12-4242"
# event -> (the jobs that run, the concurrency group: runs that touch the stack queue together)
SCENARIOS = {
    "a push to a labelled pull request redeploys": (
        pull_request_event("synchronize"),
        {"deploy", "comment"},
        STACK_GROUP,
    ),
    "adding the label deploys": (pull_request_event("labeled", label=LABEL), {"deploy", "comment"}, STACK_GROUP),
    "reopening a labelled pull request deploys": (pull_request_event("reopened"), {"deploy", "comment"}, STACK_GROUP),
    "removing the label tears down": (
        pull_request_event("unlabeled", (), label=LABEL),
        {"teardown", "comment"},
        STACK_GROUP,
    ),
    "closing a labelled pull request tears down": (
        pull_request_event("closed", state="closed"),
        {"teardown", "comment"},
        STACK_GROUP,
    ),
    "another label on a labelled pull request does nothing": (
        pull_request_event("labeled", (LABEL, "docs"), label="docs"),
        set(),
        IDLE_GROUP,
    ),
    "removing another label does nothing": (
        pull_request_event("unlabeled", (LABEL,), label="docs"),
        set(),
        IDLE_GROUP,
    ),
    "a push without the label does nothing": (pull_request_event("synchronize", ()), set(), IDLE_GROUP),
    "closing an unlabelled pull request does nothing": (
        pull_request_event("closed", (), state="closed"),
        set(),
        IDLE_GROUP,
    ),
    "a fork's labelled pull request gets nothing": (pull_request_event("synchronize", fork=True), set(), STACK_GROUP),
    "labelling a fork's pull request gets nothing": (
        pull_request_event("labeled", fork=True, label=LABEL),
        set(),
        STACK_GROUP,
    ),
    "closing a fork's labelled pull request gets nothing": (
        pull_request_event("closed", fork=True, state="closed"),
        set(),
        STACK_GROUP,
    ),
}


@pytest.mark.parametrize(("context", "expected", "group"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_review_workflow_deploys_while_labelled_and_tears_down_after(context, expected, group):
    assert review_decisions(context) == (expected, group)


def test_the_review_workflow_listens_to_pull_request_events_only():
    on = triggers(load("review.yml"))
    assert set(on) == {"pull_request"}
    assert set(on["pull_request"]["types"]) == {"opened", "synchronize", "reopened", "labeled", "unlabeled", "closed"}
    assert load("review.yml")["concurrency"]["cancel-in-progress"] is False


def test_a_review_stack_is_pr_number_from_devs_settings_in_the_review_environment():
    deploy = load("review.yml")["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/up.yml"
    assert deploy["with"] == {
        "stack": "pr-${{ github.event.pull_request.number }}",
        "environment": "review",
        "config-from": "dev",
    }
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    declared = triggers(load("up.yml"))["workflow_call"]["secrets"]
    assert deploy["secrets"] == {name: f"${{{{ secrets.{name} }}}}" for name in declared}
    assert (ROOT / "Pulumi.dev.yaml").is_file()


def test_the_teardown_destroys_and_removes_the_stack_queued_behind_its_update():
    teardown = load("review.yml")["jobs"]["teardown"]
    assert teardown["environment"] == "review"
    assert teardown["env"]["STACK"] == "pr-${{ github.event.pull_request.number }}"
    # up.yml's job group is pulumi-<stack>: the same group, so a teardown never races a running update.
    up_group = next(iter(load("up.yml")["jobs"].values()))["concurrency"]["group"]
    assert teardown["concurrency"]["group"] == up_group.replace("${{ inputs.stack }}", teardown["env"]["STACK"])
    assert teardown["concurrency"]["cancel-in-progress"] is False
    script = next(step["run"] for step in steps(teardown) if "pulumi destroy" in step.get("run", ""))
    assert 'pulumi destroy --stack "$STACK" --yes --skip-preview --remove' in script
    assert 'pulumi stack select "$STACK"' in script, "a stack that was never deployed is nothing to destroy"
    assert step_using(teardown, "actions/checkout")["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert_backend_is_configurable(teardown, {"cloud-url": "${{ vars.PULUMI_BACKEND_URL }}"})
    assert teardown["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"


def test_the_comment_job_hands_the_script_what_the_deploy_found():
    comment = load("review.yml")["jobs"]["comment"]
    assert comment["needs"] == ["deploy", "teardown"]
    assert comment["permissions"] == {"contents": "read", "pull-requests": "write"}
    (step,) = [step for step in steps(comment) if "run" in step]
    assert step["run"] == f"bash {REVIEW_COMMENT}"
    env = step["env"]
    assert env["GH_TOKEN"] == "${{ github.token }}"
    for name, output in (("VERDICT", "verdict"), ("API_URL", "api-url"), ("REPORT", "report")):
        assert env[name] == f"${{{{ needs.deploy.outputs.{output} }}}}"
    assert env["TIMELINE_URL"] == "${{ needs.deploy.outputs.timeline-url }}"
    assert (env["DEPLOY"], env["TEARDOWN"]) == ("${{ needs.deploy.result }}", "${{ needs.teardown.result }}")
