"""`make logs`: the function's log group through real boto3 against a loopback CloudWatch Logs, one line per
request, from the lines the app really writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from handler.app import create_app
from handler.settings import Settings
from handler.upstream import UpstreamError
from streamlogs import cli
from streamlogs.summary import request_record
from tests.app.scripted import Fail, ScriptedBackend, Send
from tests.fakes.logs import FakeCloudWatchLogs, pattern
from tests.loopback import ROOT, eventually, serve_in_thread
from tests.test_streamcheck import fake_pulumi  # noqa: F401 (the fixture)

GROUP = "/aws/lambda/streamgate-dev"
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:handler-1eb46ce"
NOISE = [
    "START RequestId: 6c8d1f7e-0b1a-4c59-9f0e-6a1e2b3c4d5e Version: $LATEST\n",
    "REPORT RequestId: 6c8d1f7e-0b1a-4c59-9f0e-6a1e2b3c4d5e\tDuration: 1601.20 ms\tBilled Duration: 1602 ms\n",
    "Traceback (most recent call last):\n",
]


@pytest.fixture(scope="module")
def app_lines() -> dict[str, str]:
    """Access-log lines the app wrote for an answer, a refused body and an upstream failure."""
    lines = io.StringIO()
    scripts = {
        "ok": ScriptedBackend([Send(b"data: a\n\n"), Send(b"data: b\n\n")]),
        "upstream_error": ScriptedBackend([Send(b"data: a\n\n"), Fail("ModelStreamErrorException")]),
        "refused": ScriptedBackend([], refuse=UpstreamError("ThrottlingException", "slow down")),
    }
    written = {}
    for outcome, backend in scripts.items():
        with serve_in_thread(create_app(Settings(), backend=backend, log_stream=lines)) as base:
            httpx.post(base + "/invoke", json={"prompt": "hi"})
            eventually(lambda: lines.getvalue().endswith("\n") and len(lines.getvalue().splitlines()) > len(written))
        written[outcome] = lines.getvalue().splitlines()[-1] + "\n"
    return written


@pytest.fixture
def logs(monkeypatch, tmp_path) -> Iterator[FakeCloudWatchLogs]:
    with FakeCloudWatchLogs(groups=[GROUP]) as fake:
        for name, value in fake.env.items():
            monkeypatch.setenv(name, value)
        # Nothing from the machine's own AWS configuration.
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        yield fake


def now_ms() -> int:
    return round(time.time() * 1000)


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_one_line_per_request_with_time_status_outcome_ttfb_and_duration(logs, app_lines, capsys):
    stamp = now_ms() - 60_000
    for offset, line in enumerate([NOISE[0], app_lines["ok"], NOISE[1], app_lines["refused"], NOISE[2]]):
        logs.put(GROUP, line, stamp + offset)
    code, lines, err = run(capsys, "--log-group", GROUP, "--no-follow")
    assert (code, err) == (0, "")
    assert len(lines) == 2, lines
    ok, refused = (json.loads(app_lines[name]) for name in ("ok", "refused"))
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime((stamp + 1) / 1000))
    assert lines[0].split() == [
        *when.split(),
        "200",
        "ok",
        "ttfb",
        f"{ok['TimeToFirstByte']:.0f}",
        "ms",
        "dur",
        f"{ok['Duration']:.0f}",
        "ms",
        "POST",
        "/invoke",
    ]
    assert lines[1].split()[2:4] == ["429", "refused"]
    assert lines[1].split()[-1] == refused["error"] == "ThrottlingException"


def test_errors_asks_cloudwatch_for_refused_and_upstream_error_requests_only(logs, app_lines, capsys):
    for line in (app_lines["ok"], app_lines["upstream_error"], app_lines["refused"], NOISE[2]):
        logs.put(GROUP, line, now_ms() - 1000)
    code, lines, _ = run(capsys, "--log-group", GROUP, "--no-follow", "--errors")
    assert code == 0
    assert [line.split()[3] for line in lines] == ["upstream_error", "refused"]
    assert lines[0].split()[-1] == "ModelStreamErrorException"
    (request,) = logs.requests
    assert request["filterPattern"] == '{ ($.outcome = "upstream_error") || ($.outcome = "refused") }'


def test_since_sets_the_start_of_the_window(logs, app_lines, capsys):
    logs.put(GROUP, app_lines["ok"], now_ms() - 3 * 3600_000)
    logs.put(GROUP, app_lines["refused"], now_ms() - 30 * 60_000)
    before = now_ms()
    _, lines, _ = run(capsys, "--log-group", GROUP, "--no-follow", "--since", "1h")
    assert [line.split()[3] for line in lines] == ["refused"]
    assert abs(logs.requests[-1]["startTime"] - (before - 3600_000)) < 5000
    _, lines, _ = run(capsys, "--log-group", GROUP, "--no-follow", "--since", "1d")
    assert [line.split()[3] for line in lines] == ["ok", "refused"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 7200))
    _, lines, _ = run(capsys, "--log-group", GROUP, "--no-follow", "--since", iso)
    assert [line.split()[3] for line in lines] == ["refused"]


def test_every_page_is_read_even_an_empty_one_that_carries_a_token(logs, app_lines, capsys):
    logs.page_size, logs.empty_first_page = 1, True
    for _ in range(3):
        logs.put(GROUP, app_lines["ok"], now_ms() - 1000)
    _, lines, _ = run(capsys, "--log-group", GROUP, "--no-follow")
    assert len(lines) == 3
    assert len(logs.requests) == 4
    assert all(request.get("nextToken") for request in logs.requests[1:])


def test_following_prints_new_requests_once_including_ones_that_arrive_late(logs, app_lines):
    env = {**os.environ, **logs.env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlogs", "--log-group", GROUP, "--poll", "0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    reader = threading.Thread(target=lambda: printed.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        logs.put(GROUP, app_lines["ok"], now_ms())
        assert eventually(lambda: len(printed) == 1, timeout=10), printed
        first_polls = len(logs.requests)
        assert eventually(lambda: len(logs.requests) > first_polls + 2, timeout=10), "it keeps polling"
        # Stamped before the one already shown, ingested only now: Lambda's logs can be seconds late.
        logs.put(GROUP, app_lines["upstream_error"], now_ms() - 20_000, delay_ms=20_000)
        logs.put(GROUP, app_lines["refused"], now_ms())
        assert eventually(lambda: len(printed) == 3, timeout=10), printed
        time.sleep(0.5)
    finally:
        process.terminate()
        process.wait(10)
    assert [line.split()[3] for line in printed] == ["ok", "upstream_error", "refused"], "each once"


def test_the_stack_names_the_log_group_and_its_region(logs, app_lines, capsys, fake_pulumi):  # noqa: F811
    fake_pulumi({"functionLogGroup": GROUP, "functionArn": FUNCTION_ARN})
    assert cli._target(cli.parser().parse_args(["--stack", "dev"])) == (GROUP, "eu-west-1")
    logs.put(GROUP, app_lines["ok"], now_ms())
    code, lines, _ = run(capsys, "--stack", "dev", "--no-follow", "--region", "us-east-1")
    assert (code, len(lines)) == (0, 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "streamlogs: which log group? give --stack NAME (make logs STACK=NAME) or --log-group NAME"),
        (["--log-group", GROUP, "--since", "soon"], "streamlogs: --since 'soon': give 30s, 10m, 2h, 1d or an ISO time"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith(message)


def test_a_log_group_that_does_not_exist_exits_1_naming_it(logs, capsys):
    code, _, err = run(capsys, "--log-group", "/aws/lambda/streamgate-nope", "--no-follow")
    assert code == 1
    assert err == (
        "streamlogs: /aws/lambda/streamgate-nope: ResourceNotFoundException: The specified log group does not exist.\n"
    )


def test_only_the_apps_request_lines_are_requests():
    assert request_record('{"method":"POST","path":"/invoke","status":200,"outcome":"ok"}') is not None
    assert request_record(NOISE[1]) is None
    assert request_record('{"level":"info","message":"hello"}') is None
    assert request_record("[1, 2]") is None


@pytest.mark.parametrize(
    ("filter_pattern", "message", "matches"),
    [
        ('{ $.outcome = "refused" }', '{"outcome":"refused"}', True),
        ('{ $.outcome = "ref*" }', '{"outcome":"refused"}', True),
        ('{ $.outcome != "ok" }', '{"outcome":"ok"}', False),
        ("{ $.status >= 500 }", '{"status":502}', True),
        ("{ $.status >= 500 }", '{"status":"502"}', False),
        ('{ ($.status = 200) && ($.outcome = "ok") }', '{"status":200,"outcome":"ok"}', True),
        ('{ $.a.b = "x" || $.c = 1 }', '{"a":{"b":"y"},"c":1}', True),
        ('{ $.outcome = "ok" }', "START RequestId: x", False),
    ],
)
def test_the_fake_applies_json_filter_patterns_as_documented(filter_pattern, message, matches):
    assert pattern(filter_pattern)(message) is matches


@pytest.mark.parametrize("bad", ["ERROR", '{ $.outcome = "ok" ', "{ $.status > }", '{ $.outcome > "a" }'])
def test_the_fake_refuses_malformed_patterns(bad):
    from tests.fakes.logs import LogsError

    with pytest.raises(LogsError) as refused:
        pattern(bad)
    assert refused.value.code == "InvalidParameterException"


@pytest.mark.parametrize(
    ("variables", "flags"),
    [
        ([], ["--stack", "dev"]),
        (
            ["STACK=prod", "SINCE=2h", "ERRORS=1", "FOLLOW=0"],
            ["--stack", "prod", "--since", "2h", "--errors", "--no-follow"],
        ),
    ],
)
def test_make_logs_passes_the_stack_and_the_filters_on(variables, flags):
    # Not the outer `make test`'s flags and directory messages.
    env = {key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    argv = ["make", "--no-print-directory", "-n", "logs", *variables]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    (line,) = [line for line in done.stdout.splitlines() if "-m streamlogs" in line]
    command = line.split()
    assert command[command.index("streamlogs") + 1 :] == flags
    known = {option for action in cli.parser()._actions for option in action.option_strings}
    assert {flag for flag in flags if flag.startswith("--")} <= known
