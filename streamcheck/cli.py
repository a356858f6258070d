"""The command line: which endpoints to call and how, then print the verdicts and exit on them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from streamcheck import report, verdict
from streamcheck.check import Check, Target, run_check
from streamcheck.probe import ProbeError, check_url, invoke_body
from streamcheck.sigv4 import SigningError, SigV4Signer
from streamcheck.stack import FUNCTION_URL, StackError, read_endpoints

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_UNCHECKED = 2

DEFAULT_PROMPT = "Tell me a story"

EPILOG = f"""\
verdict:
  STREAMED  bytes arrived spread over time: >= {verdict.MIN_EARLY_SHARE:.0%} of them before the final
            {verdict.FINAL_BURST_WINDOW_S} s burst, first to last byte >= {verdict.MIN_SPREAD_S} s
  BUFFERED  (almost) everything arrived in one burst at the end
  ERROR     a status other than 200, an empty body, or a stream carrying an `event: error`
            (the report names its error code)
  GUARDED   (--both) the function URL answered 403: only API Gateway holds its secret header

exit status:
  {EXIT_PASSED}  every endpoint STREAMED (or is GUARDED)
  {EXIT_FAILED}  an endpoint BUFFERED or ERROR
  {EXIT_UNCHECKED}  could not check: bad arguments or URL, connection refused, timeout,
     unreadable stack outputs, no AWS credentials for --sigv4

examples:
  python -m streamcheck http://localhost:8080
  python -m streamcheck --stack dev --both --plot timeline.png
  python -m streamcheck https://abc.lambda-url.eu-west-1.on.aws/invoke --sigv4
  python -m streamcheck --stack prod --bearer "$ID_TOKEN"
"""


class Unchecked(Exception):
    """Nothing could be judged; the message is the one line the user sees."""


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        checks = run(args)
    except (Unchecked, ProbeError, StackError, SigningError) as error:
        print(f"streamcheck: {error}", file=sys.stderr)
        return EXIT_UNCHECKED
    except KeyboardInterrupt:
        return 130
    print(report.as_json(checks) if args.json else report.human(checks))
    if args.plot:
        try:
            from streamcheck.plot import timeline

            timeline(checks, args.plot)
        except OSError as error:
            print(f"streamcheck: cannot write the plot {args.plot}: {error.strerror}", file=sys.stderr)
            return EXIT_UNCHECKED
    return EXIT_PASSED if all(check.verdict.passed for check in checks) else EXIT_FAILED


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m streamcheck",
        description="Call a streamgate invoke endpoint and tell whether the answer streamed or was buffered.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("urls", nargs="*", metavar="URL", help="invoke URL(s); a bare origin gets /invoke")
    where = cli.add_argument_group("endpoints from a deployed stack")
    where.add_argument("--stack", metavar="NAME", help="read the API invoke URL from `pulumi stack output`")
    where.add_argument("--both", action="store_true", help="with --stack: also check the function URL")
    request = cli.add_argument_group("the request")
    request.add_argument("--prompt", default=DEFAULT_PROMPT, help="the prompt (default: %(default)r)")
    request.add_argument("--session-id", help="continue this session (33-256 characters)")
    request.add_argument("--api-key", help="send as X-Api-Key (API Gateway API keys)")
    request.add_argument(
        "--header", action="append", default=[], type=_header, metavar="'NAME: VALUE'", help="extra header"
    )
    request.add_argument(
        "--bearer", metavar="TOKEN", help="send 'Authorization: Bearer TOKEN' (Cognito or Lambda authorizers)"
    )
    request.add_argument("--sigv4", action="store_true", help="sign with botocore credentials (AWS_IAM)")
    request.add_argument("--region", help="region to sign for (default: from the URL's host)")
    request.add_argument(
        "--timeout", type=float, default=60.0, help="max seconds to connect or between bytes (default: %(default)g)"
    )
    output = cli.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    output.add_argument("--plot", type=Path, metavar="PNG", help="draw bytes received over time")
    return cli


def run(args: argparse.Namespace) -> list[Check]:
    targets = [Target(t.label, check_url(t.url), t.forbidden_expected) for t in resolve_targets(args)]
    headers = dict(args.header)
    if args.api_key:
        headers["X-Api-Key"] = args.api_key
    if args.bearer:
        if args.sigv4:
            raise Unchecked("--bearer and --sigv4 both set the Authorization header: choose one")
        headers["Authorization"] = f"Bearer {args.bearer}"
    signer = SigV4Signer(args.region) if args.sigv4 else None
    body = invoke_body(args.prompt, args.session_id)
    return [run_check(target, body, headers, args.timeout, signer) for target in targets]


def resolve_targets(args: argparse.Namespace) -> list[Target]:
    if args.stack and args.urls:
        raise Unchecked("give URLs or --stack, not both")
    if args.both and not args.stack:
        raise Unchecked("--both reads the two endpoints from a stack: add --stack NAME")
    if not args.stack:
        if not args.urls:
            raise Unchecked("nothing to check: give a URL or --stack NAME (see --help)")
        return _url_targets(args.urls)
    endpoints = read_endpoints(args.stack)
    targets = [Target("api", endpoints.api_invoke_url)]
    if args.both:
        if not endpoints.function_url:
            raise Unchecked(
                f"stack {args.stack!r} exports no {FUNCTION_URL!r} "
                f"(integration {endpoints.integration!r}); --both needs one"
            )
        targets.append(Target("function URL", endpoints.function_url, endpoints.function_url_is_guarded))
    return targets


def _url_targets(urls: Sequence[str]) -> list[Target]:
    labels = [urlsplit(url).netloc or url for url in urls]
    if len(set(labels)) < len(labels):
        labels = [f"#{number} {label}" for number, label in enumerate(labels, 1)]
    return [Target(label, url) for label, url in zip(labels, urls, strict=True)]


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()
