"""streamcheck: calls an invoke endpoint, times every chunk and says STREAMED, BUFFERED or ERROR."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from streamcheck import sse, verdict
from streamcheck.cli import EXIT_FAILED, EXIT_PASSED, EXIT_UNCHECKED, main
from streamcheck.probe import count_events
from streamcheck.sigv4 import SigningError, service_and_region
from streamcheck.sse import ErrorEvent
from streamcheck.stack import API_INVOKE_URL, FUNCTION_URL, INTEGRATION
from tests.fakes import FakeAgentCore
from tests.fakes.agentcore import sse as sse_reply
from tests.fakes.agentcore import sse_event
from tests.loopback import ROOT, serve_in_thread, serve_process
from tests.streamcheck_support.apps import BufferingApp, ErrorEventApp, RecordingApp, demo_events

# Long enough for a spread well above MIN_SPREAD_S (~40 tokens), short enough for a fast suite.
DEMO_ENV = {"BACKEND": "demo", "DEMO_TOKEN_DELAY": "0.008"}
ORIGIN_SECRET = "only-api-gateway-knows-this"
AGENT_ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-Ab12Cd34Ef"


@pytest.fixture(scope="module")
def demo_url():
    with serve_process(DEMO_ENV) as (base, _):
        yield base + "/invoke"


@pytest.fixture(scope="module")
def buffering_url():
    with serve_in_thread(BufferingApp(delay=0.3)) as base:
        yield base + "/invoke"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def steady(count: int, every: float, size: int = 40, start: float = 0.05) -> list[verdict.Sample]:
    return [(start + i * every, size) for i in range(count)]


# -- the verdict, on synthetic arrival times -------------------------------------------------------------


def test_bytes_spread_evenly_over_a_second_are_streamed():
    result = verdict.judge(200, steady(40, 0.025))
    assert result.name == verdict.STREAMED
    assert result.passed
    assert result.figures["chunks"] == 40
    assert result.figures["bytes"] == 1600
    assert result.figures["spread_s"] == pytest.approx(0.975)
    assert result.figures["early_share"] > 0.85


def test_everything_in_one_burst_after_a_long_wait_is_buffered():
    burst = [(1.5 + i * 0.001, 500) for i in range(4)]
    result = verdict.judge(200, burst)
    assert result.name == verdict.BUFFERED
    assert not result.passed
    assert result.figures["early_share"] == 0


def test_a_keep_alive_trickle_before_a_buffered_body_does_not_count_as_streaming():
    samples = [(0.05, 15), (0.6, 15), *[(2.0 + i * 0.002, 800) for i in range(3)]]
    result = verdict.judge(200, samples)
    assert result.figures["spread_s"] > verdict.MIN_SPREAD_S, "spread alone would have passed"
    assert result.name == verdict.BUFFERED
    assert "streaming needs >= 50%" in result.reason


def test_a_body_in_a_single_chunk_is_buffered_whatever_its_timing():
    result = verdict.judge(200, [(0.7, 2048)])
    assert result.name == verdict.BUFFERED
    assert result.reason == "the whole body arrived in a single chunk"


def test_an_answer_faster_than_the_minimum_spread_cannot_prove_streaming():
    result = verdict.judge(200, steady(10, 0.01))
    assert result.figures["spread_s"] < verdict.MIN_SPREAD_S
    assert result.name == verdict.BUFFERED
    assert "too quick to show streaming" in result.reason


def test_chunks_within_the_window_before_the_last_byte_are_the_final_burst():
    # The last byte at 0.4 s: the chunk at 0.35 s is inside the 0.1 s window, the one at 0.1 s is not.
    result = verdict.judge(200, [(0.1, 500), (0.35, 250), (0.4, 250)])
    assert result.figures["final_burst_bytes"] == 500
    assert result.figures["early_share"] == verdict.MIN_EARLY_SHARE == 0.5
    assert result.name == verdict.STREAMED, "exactly the minimum share passes"


def test_empty_chunks_are_ignored_and_an_empty_body_is_an_error():
    assert verdict.judge(200, []).name == verdict.ERROR
    assert verdict.judge(200, [(0.1, 0), (0.2, 0)]).reason == "200 with an empty body"
    assert verdict.judge(200, [(0.0, 0), *steady(20, 0.05)]).figures["chunks"] == 20


@pytest.mark.parametrize("status", [400, 403, 500, 502, 504])
def test_any_status_but_200_is_an_error_even_with_a_streamed_body(status):
    result = verdict.judge(status, steady(40, 0.025))
    assert result.name == verdict.ERROR
    assert not result.passed
    assert str(status) in result.reason


def test_a_403_is_the_guard_working_only_where_one_is_expected():
    assert verdict.judge(403, [(0.01, 80)], forbidden_expected=True).name == verdict.GUARDED
    assert verdict.judge(403, [(0.01, 80)], forbidden_expected=True).passed
    assert verdict.judge(500, [(0.01, 80)], forbidden_expected=True).name == verdict.ERROR


def test_events_are_data_blocks_not_keep_alive_comments():
    body = b': keep-alive\n\ndata: {"a":1}\n\nevent: done\r\ndata: {}\r\n\r\n'
    assert count_events(body) == 2
    assert count_events(demo_events()) == demo_events().count(b"data: ")


# -- against real local servers -------------------------------------------------------------------------


def test_the_demo_app_streams_and_the_report_shows_the_figures(capsys, demo_url):
    code, out, err = run_cli(capsys, demo_url)
    assert (code, err) == (EXIT_PASSED, "")
    table = dict(line.split(None, 1) for line in out.splitlines()[1:] if line and ":" not in line[:20])
    assert table["status"] == "200"
    assert table["Content-Type"] == "text/event-stream"
    assert table["Transfer-Encoding"] == "chunked"
    assert len(table["X-Session-Id"]) >= 33
    assert table["verdict"] == "STREAMED"
    assert "STREAMED — " in out.splitlines()[-1]


def test_a_buffering_server_sending_the_same_events_is_caught(capsys, buffering_url):
    code, out, _ = run_cli(capsys, buffering_url, "--json")
    assert code == EXIT_FAILED
    check = json.loads(out)["checks"][0]
    assert check["verdict"] == "BUFFERED"
    assert check["status"] == 200
    assert check["headers"]["Content-Length"] == str(len(demo_events()))
    assert check["events"] == count_events(demo_events())
    assert check["ttfb_s"] >= 0.3, "nothing arrived before the server's delay"


def test_json_is_one_object_with_samples_and_the_rule(capsys, demo_url):
    session = "s" * 40
    code, out, _ = run_cli(capsys, demo_url, "--json", "--session-id", session, "--prompt", "hi")
    document = json.loads(out)
    assert code == EXIT_PASSED
    assert document["passed"] is True
    assert document["rule"] == {
        "final_burst_window_s": verdict.FINAL_BURST_WINDOW_S,
        "min_early_share": verdict.MIN_EARLY_SHARE,
        "min_spread_s": verdict.MIN_SPREAD_S,
    }
    (check,) = document["checks"]
    assert check["headers"]["X-Session-Id"] == session
    assert check["bytes"] == sum(size for _, size in check["samples"])
    assert check["chunks"] == len(check["samples"]) > 10
    assert check["ttfb_s"] <= check["total_s"]


def test_two_urls_are_checked_side_by_side_and_one_failure_fails_the_run(capsys, demo_url, buffering_url):
    code, out, _ = run_cli(capsys, demo_url, buffering_url)
    assert code == EXIT_FAILED
    verdict_row = next(line for line in out.splitlines() if line.startswith("verdict"))
    assert verdict_row.split()[1:] == ["STREAMED", "BUFFERED"]


def test_plot_draws_a_png_of_both_timelines(capsys, tmp_path, demo_url, buffering_url):
    png = tmp_path / "timeline.png"
    run_cli(capsys, demo_url, buffering_url, "--plot", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_matplotlib_is_only_imported_for_a_plot(demo_url):
    probe = f"import sys; from streamcheck.cli import main; main([{demo_url!r}]); print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines()[-1] == "False"


def test_an_error_answer_is_reported_with_its_body(capsys, demo_url):
    code, out, _ = run_cli(capsys, demo_url, "--session-id", "too-short")
    assert code == EXIT_FAILED
    assert "ERROR — status 400, not 200" in out
    assert "InvalidSessionId" in out


# -- the request: API key, extra headers, SigV4 -----------------------------------------------------------


@pytest.fixture
def recorder():
    app = RecordingApp()
    with serve_in_thread(app) as base:
        yield app, base + "/invoke"


def test_api_key_and_extra_headers_are_sent_with_the_prompt(capsys, recorder):
    app, url = recorder
    run_cli(capsys, url, "--api-key", "k-123", "--header", "X-Trace: abc", "--prompt", "why?")
    ((headers, body),) = app.requests
    assert headers["x-api-key"] == "k-123"
    assert headers["x-trace"] == "abc"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"prompt": "why?"}
    assert "authorization" not in headers


def test_bearer_sends_the_token_for_cognito_and_lambda_authorizers(capsys, recorder):
    app, url = recorder
    run_cli(capsys, url, "--bearer", "eyJraWQiOi.token")
    ((headers, _),) = app.requests
    assert headers["authorization"] == "Bearer eyJraWQiOi.token"


def test_bearer_and_sigv4_together_is_refused_before_any_request(capsys, recorder):
    app, url = recorder
    code, _, err = run_cli(capsys, url, "--bearer", "t", "--sigv4")
    assert code == EXIT_UNCHECKED
    assert "--bearer and --sigv4" in err
    assert app.requests == []


@pytest.fixture
def no_aws_config(monkeypatch, tmp_path):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_sigv4_signs_for_lambda_in_the_given_region(capsys, recorder, monkeypatch, no_aws_config):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    app, url = recorder
    code, _, err = run_cli(capsys, url, "--sigv4", "--region", "eu-west-1")
    ((headers, _),) = app.requests
    assert err == ""
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/lambda/aws4_request" in headers["authorization"]
    assert "SignedHeaders=" in headers["authorization"]
    assert len(headers["x-amz-date"]) == len("20250101T000000Z")
    assert code == EXIT_FAILED, "the recorder's one-chunk answer is not a stream"


def test_sigv4_without_credentials_is_one_clear_line(capsys, recorder, no_aws_config):
    app, url = recorder
    code, out, err = run_cli(capsys, url, "--sigv4", "--region", "eu-west-1")
    assert code == EXIT_UNCHECKED
    assert out == ""
    assert err.startswith("streamcheck: --sigv4: no AWS credentials found")
    assert len(err.splitlines()) == 1
    assert app.requests == [], "nothing unsigned was sent"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://abcdef.lambda-url.eu-west-1.on.aws/invoke", ("lambda", "eu-west-1")),
        ("https://a1b2c3.execute-api.us-east-2.amazonaws.com/dev/invoke", ("execute-api", "us-east-2")),
    ],
)
def test_sigv4_service_and_region_come_from_the_host(url, expected):
    assert service_and_region(url) == expected
    assert service_and_region(url, "ap-south-1") == (expected[0], "ap-south-1")


def test_sigv4_needs_a_region_when_the_host_does_not_say():
    with pytest.raises(SigningError, match="pass --region"):
        service_and_region("http://127.0.0.1:8080/invoke")


# -- --stack: endpoints from `pulumi stack output` ---------------------------------------------------------


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch):
    """A `pulumi` first on PATH that prints the outputs it is given and records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import pathlib, sys\n"
        "here = pathlib.Path(__file__).parent\n"
        "(here / 'argv.json').write_text(__import__('json').dumps(sys.argv[1:]))\n"
        "if (here / 'fail').exists():\n"
        "    sys.exit(sys.stderr.write('error: no stack named \\'dev\\' found\\n') and 255)\n"
        "print((here / 'outputs.json').read_text())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def set_outputs(outputs: dict) -> Path:
        (bin_dir / "outputs.json").write_text(json.dumps(outputs))
        return bin_dir

    return set_outputs


@pytest.fixture(scope="module")
def guarded_function_url():
    with serve_process({**DEMO_ENV, "ORIGIN_VERIFY_SECRET": ORIGIN_SECRET}) as (base, _):
        yield base + "/"


def test_stack_reads_the_api_url_from_pulumi(capsys, fake_pulumi, demo_url):
    bin_dir = fake_pulumi({API_INVOKE_URL: demo_url, INTEGRATION: "aws_proxy"})
    code, out, _ = run_cli(capsys, "--stack", "dev")
    assert code == EXIT_PASSED
    assert json.loads((bin_dir / "argv.json").read_text()) == ["stack", "output", "--json", "--stack", "dev"]
    assert out.splitlines()[0].split() == ["api"]
    assert demo_url in out


def test_both_reports_a_guarded_function_url_honestly(capsys, fake_pulumi, demo_url, guarded_function_url):
    fake_pulumi({API_INVOKE_URL: demo_url, FUNCTION_URL: guarded_function_url, INTEGRATION: "function_url"})
    code, out, _ = run_cli(capsys, "--stack", "dev", "--both", "--json")
    api, function = json.loads(out)["checks"]
    assert (api["label"], api["verdict"]) == ("api", "STREAMED")
    assert function["url"] == guarded_function_url + "invoke"
    assert (function["status"], function["verdict"]) == (403, "GUARDED")
    assert code == EXIT_PASSED


def test_a_403_from_an_unguarded_function_url_fails(capsys, fake_pulumi, demo_url, guarded_function_url):
    fake_pulumi({API_INVOKE_URL: demo_url, FUNCTION_URL: guarded_function_url, INTEGRATION: "aws_proxy"})
    code, out, _ = run_cli(capsys, "--stack", "dev", "--both")
    assert code == EXIT_FAILED
    assert "function URL: ERROR — status 403, not 200" in out


def test_both_without_a_function_url_output_says_so(capsys, fake_pulumi, demo_url):
    fake_pulumi({API_INVOKE_URL: demo_url, INTEGRATION: "aws_proxy"})
    code, _, err = run_cli(capsys, "--stack", "dev", "--both")
    assert code == EXIT_UNCHECKED
    assert err == "streamcheck: stack 'dev' exports no 'functionUrl' (integration 'aws_proxy'); --both needs one\n"


def test_a_failing_pulumi_is_reported_in_one_line(capsys, fake_pulumi):
    (fake_pulumi({}) / "fail").touch()
    code, _, err = run_cli(capsys, "--stack", "dev")
    assert code == EXIT_UNCHECKED
    assert err == "streamcheck: pulumi stack output --stack dev failed: error: no stack named 'dev' found\n"


def test_a_stack_without_the_api_output_is_reported(capsys, fake_pulumi):
    fake_pulumi({"somethingElse": 1})
    code, _, err = run_cli(capsys, "--stack", "dev")
    assert code == EXIT_UNCHECKED
    assert "has no 'apiInvokeUrl' output" in err


def test_stack_without_the_pulumi_cli(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run_cli(capsys, "--stack", "dev")
    assert code == EXIT_UNCHECKED
    assert err == "streamcheck: --stack needs the pulumi CLI on PATH (or pass the URL instead)\n"


# -- bad input: one line, exit 2, never a traceback -------------------------------------------------------


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_unanswered_requests_time_out_in_one_line(capsys, silent_port):
    code, out, err = run_cli(capsys, f"http://127.0.0.1:{silent_port}/invoke", "--timeout", "0.3")
    assert (code, out) == (EXIT_UNCHECKED, "")
    assert err == f"streamcheck: no answer from http://127.0.0.1:{silent_port}/invoke within 0.3 s (--timeout)\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["localhost:8080"], "streamcheck: not an http(s) URL: 'localhost:8080'"),
        (["ftp://example.com/invoke"], "streamcheck: not an http(s) URL: 'ftp://example.com/invoke'"),
        ([], "streamcheck: nothing to check: give a URL or --stack NAME (see --help)"),
        (["--both"], "streamcheck: --both reads the two endpoints from a stack: add --stack NAME"),
        (["http://x/invoke", "--stack", "dev"], "streamcheck: give URLs or --stack, not both"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert (code, out, err) == (EXIT_UNCHECKED, "", message + "\n")


def test_connection_refused_as_a_module_run_is_one_line_without_traceback():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = subprocess.run(
        [sys.executable, "-m", "streamcheck", f"http://127.0.0.1:{port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == EXIT_UNCHECKED
    assert result.stderr == f"streamcheck: cannot connect to http://127.0.0.1:{port}: Connection refused\n"


def test_help_documents_the_verdicts_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for line in ("0  every endpoint STREAMED", "1  an endpoint BUFFERED or ERROR", "2  could not check"):
        assert line in out
    assert f"{verdict.FINAL_BURST_WINDOW_S} s burst" in out


# -- a stream that carries an error event ----------------------------------------------------------------


def test_a_well_streamed_body_carrying_an_error_event_is_an_error_naming_its_code():
    failure = ErrorEvent("ThrottlingException", "slow down")
    result = verdict.judge(200, steady(40, 0.025), error_event=failure)
    assert result.name == verdict.ERROR
    assert not result.passed
    assert result.reason == "the stream carried an error event: ThrottlingException (slow down)"
    assert result.figures["error"] == "ThrottlingException"
    assert result.figures["early_share"] > 0.85, "the timing is still reported"


def test_the_error_event_is_read_the_way_an_event_source_reads_it():
    body = (
        b"data: fine\r\n\r\n"
        b": an error in a comment is no event\n\n"
        b'event: error\rdata: {"error": "UpstreamInterrupted",\rdata:  "message": "cut"}\r\r'
    )
    assert sse.first_error(body) == ErrorEvent("UpstreamInterrupted", "cut")
    assert [event.type for event in sse.events(body)] == ["message", "error"]
    assert sse.first_error(b'data: {"error": "looks like one"}\n\n') is None, "only the event type counts"
    assert sse.first_error(b'event: error\ndata: {"error": "x"}\n') is None, "an unfinished event is dropped"
    assert sse.first_error(b"event: error\ndata: not json\n\n") == ErrorEvent("unknown", "not json")


def test_the_deploy_gate_fails_a_backend_that_breaks_mid_stream(capsys):
    with FakeAgentCore() as agent:
        agent.respond_with(sse_reply([sse_event({"n": n}) for n in range(15)], delay=0.03, abort=True))
        env = {**agent.env, "BACKEND": "agentcore", "AGENT_RUNTIME_ARN": AGENT_ARN}
        with serve_process(env) as (base, _):
            code, out, _ = run_cli(capsys, base, "--json")
    document = json.loads(out)
    (check,) = document["checks"]
    assert code == EXIT_FAILED
    assert (document["passed"], check["verdict"], check["error"]) == (False, "ERROR", "UpstreamInterrupted")
    assert check["figures"]["spread_s"] > verdict.MIN_SPREAD_S, "it streamed, and still fails"


def test_the_table_names_the_error_code(capsys):
    with serve_in_thread(ErrorEventApp()) as base:
        code, out, _ = run_cli(capsys, base)
    table = dict(line.split(None, 1) for line in out.splitlines()[1:] if line and ":" not in line[:20])
    assert code == EXIT_FAILED
    assert (table["error"], table["verdict"]) == ("ThrottlingException", "ERROR")
    assert out.splitlines()[-1].endswith("ERROR — the stream carried an error event: ThrottlingException (slow down)")
