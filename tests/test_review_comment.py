"""The review stack's pull request comment (.github/scripts/review-comment.sh), run with a stand-in for `gh` that
records its calls: one comment per pull request, updated in place, saying what the latest run found."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.loopback import ROOT

SCRIPT = ROOT / ".github" / "scripts" / "review-comment.sh"
MARKER = "<!-- streamgate-review-stack -->"
REPORT = "API: STREAMED — 97% of the bytes arrived before the final burst"


@pytest.fixture
def gh(tmp_path: Path) -> Path:
    """A `gh` that logs each call, copies any -F body=@file it gets, and answers a listing with $PAGES: the
    comments as `gh api --paginate --slurp` prints them (a JSON array of pages, each the REST API's array)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(
        "#!/usr/bin/env bash\n"
        'printf "%s\\n" "$*" >> "$GH_LOG"\n'
        'for arg in "$@"; do case "$arg" in body=@*) cat "${arg#body=@}" > "$GH_BODY";; esac; done\n'
        'case " $* " in *" --method "*) ;; *) printf "%s\\n" "${PAGES:-[[]]}";; esac\n'
        "exit 0\n"
    )
    (bin_dir / "gh").chmod(0o755)
    return tmp_path


def comment(gh: Path, **env: str) -> tuple[list[str], str]:
    base = {
        "REPO": "acme/streamgate",
        "PR": "12",
        "STACK": "pr-12",
        "DEPLOY": "success",
        "TEARDOWN": "skipped",
        "RUN_URL": "https://github.com/acme/streamgate/actions/runs/4242",
        "GH_LOG": str(gh / "calls"),
        "GH_BODY": str(gh / "body"),
        "PATH": f"{gh / 'bin'}:{os.environ['PATH']}",
    }
    subprocess.run(["bash", str(SCRIPT)], env={**base, **env}, check=True, timeout=30, capture_output=True)
    return (gh / "calls").read_text().splitlines(), (gh / "body").read_text()


def test_a_streaming_deploy_comments_the_verdict_the_url_the_picture_and_the_table(gh):
    calls, body = comment(
        gh,
        VERDICT="0",
        API_URL="https://abc.execute-api.us-east-1.amazonaws.com/dev/invoke",
        TIMELINE_URL="https://github.com/acme/streamgate/actions/runs/4242/artifacts/99",
        REPORT=REPORT,
    )
    assert body.splitlines()[0] == MARKER
    assert "### Review stack `pr-12` streams: STREAMED." in body
    assert "- URL: https://abc.execute-api.us-east-1.amazonaws.com/dev/invoke" in body
    assert (
        "[timeline.png in the streamcheck-pr-12 artifact](https://github.com/acme/streamgate/actions/runs/4242/artifacts/99)"
        in body
    )
    assert f"```\n{REPORT}\n```" in body
    assert "https://github.com/acme/streamgate/actions/runs/4242" in body
    assert (
        calls[-1] == f"api --method POST repos/acme/streamgate/issues/12/comments -F body=@{calls[-1].split('@', 1)[1]}"
    )


def page_of(*comments: tuple[int, str, str]) -> list[dict]:
    return [{"id": id_, "user": {"login": login}, "body": body} for id_, login, body in comments]


def test_the_next_run_updates_its_own_comment_and_no_one_elses(gh):
    pages = [
        page_of(
            (1001, "github-actions[bot]", f"{MARKER}\n### an older verdict"),
            (1002, "someone", f"{MARKER}\nquoted by a person"),
        ),
        page_of((2001, "github-actions[bot]", "#### :tropical_drink: `preview` on dev (pulumi/actions)")),
    ]
    calls, _ = comment(gh, VERDICT="0", PAGES=json.dumps(pages))
    assert calls[0] == "api repos/acme/streamgate/issues/12/comments --paginate --slurp"
    assert calls[-1].startswith("api --method PATCH repos/acme/streamgate/issues/comments/1001 ")


def test_without_a_comment_of_its_own_it_adds_one(gh):
    pages = [page_of((1002, "someone", f"{MARKER}\nquoted by a person"))]
    calls, _ = comment(gh, VERDICT="0", PAGES=json.dumps(pages))
    assert calls[-1].startswith("api --method POST repos/acme/streamgate/issues/12/comments ")


@pytest.mark.parametrize(
    ("env", "headline"),
    [
        ({"VERDICT": "1"}, "is deployed but does not stream (BUFFERED or ERROR, see the table)"),
        ({"VERDICT": "2"}, "is deployed, but streamcheck could not check it"),
        ({"VERDICT": "", "DEPLOY": "failure"}, "the deploy did not get as far as streamcheck (failure)"),
        ({"DEPLOY": "skipped", "TEARDOWN": "success"}, "destroyed and removed"),
        ({"DEPLOY": "skipped", "TEARDOWN": "failure"}, "the teardown did not finish (failure); its resources may"),
    ],
)
def test_the_headline_says_what_the_run_found(gh, env, headline):
    _, body = comment(gh, **env)
    assert headline in body.splitlines()[1]


def test_a_teardown_comment_drops_the_url_and_the_table(gh):
    _, body = comment(gh, DEPLOY="skipped", TEARDOWN="success", API_URL="https://gone", REPORT=REPORT)
    assert "https://gone" not in body
    assert REPORT not in body
