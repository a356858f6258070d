"""Command line: which log group (from a stack's outputs, or given), since when, errors only, follow or not."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from streamcheck.stack import StackError, stack_outputs
from streamlogs.summary import ERRORS_PATTERN, request_record, summarise
from streamlogs.tail import LogTail

# The stack outputs this reads (__main__.py exports them).
LOG_GROUP_OUTPUT = "functionLogGroup"
FUNCTION_ARN_OUTPUT = "functionArn"
SINCE = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

EPILOG = """\
examples:
  make logs STACK=dev                       follow dev's function log from 10 minutes ago
  python -m streamlogs --stack prod --since 2h --errors --no-follow
  python -m streamlogs --log-group /aws/lambda/streamgate-dev --region us-east-1

exit status: 0 done (or Ctrl-C), 1 the log group could not be read, 2 bad arguments or stack outputs
"""


class Unusable(Exception):
    """Bad arguments or stack outputs: exit 2 with the message."""


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m streamlogs",
        description="Follow the function's log group: one line per request (time, status, outcome, TTFB, duration).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = cli.add_mutually_exclusive_group()
    where.add_argument("--stack", metavar="NAME", help="read the log group and region from `pulumi stack output`")
    where.add_argument("--log-group", metavar="NAME", help="the log group to read (e.g. /aws/lambda/streamgate-dev)")
    cli.add_argument("--region", help="AWS region (default: the stack's, else boto3's usual configuration)")
    cli.add_argument("--since", default="10m", help="start this long ago (30s, 10m, 2h, 1d) or at an ISO time")
    cli.add_argument("--errors", action="store_true", help="only requests that ended refused or upstream_error")
    cli.add_argument("--no-follow", action="store_true", help="print what is there and exit")
    cli.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help="seconds between reads (2)")
    return cli


def main(argv: Sequence[str] | None = None, now: float | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        group, region = _target(args)
        start_ms = since_ms(args.since, time.time() if now is None else now)
    except (Unusable, StackError) as problem:
        print(f"streamlogs: {problem}", file=sys.stderr)
        return 2
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    tail = LogTail(boto3.client("logs", region_name=region), group, ERRORS_PATTERN if args.errors else None, start_ms)
    try:
        while True:
            for event in tail.poll():
                record = request_record(event["message"])
                if record is not None:
                    print(summarise(event["timestamp"], record), flush=True)
            if args.no_follow:
                return 0
            time.sleep(args.poll)
    except KeyboardInterrupt:
        return 0
    except ClientError as error:
        details = error.response.get("Error", {})
        print(f"streamlogs: {group}: {details.get('Code')}: {details.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as error:
        print(f"streamlogs: {error}", file=sys.stderr)
        return 1


def _target(args: argparse.Namespace) -> tuple[str, str | None]:
    if args.log_group:
        return args.log_group, args.region
    if not args.stack:
        raise Unusable("which log group? give --stack NAME (make logs STACK=NAME) or --log-group NAME")
    outputs = stack_outputs(args.stack)
    group = outputs.get(LOG_GROUP_OUTPUT)
    if not isinstance(group, str) or not group:
        raise Unusable(f"stack {args.stack!r} has no {LOG_GROUP_OUTPUT!r} output (deployed yet?)")
    arn = str(outputs.get(FUNCTION_ARN_OUTPUT, ""))
    # arn:<partition>:lambda:<region>:<account>:function:<name>
    region = arn.split(":")[3] if arn.count(":") >= 6 else None
    return group, args.region or region


def since_ms(since: str, now: float) -> int:
    """`--since` as epoch milliseconds: a duration back from `now`, or an ISO 8601 time (UTC unless it says)."""
    match = SINCE.match(since.strip())
    if match:
        return round((now - int(match.group(1)) * UNIT_SECONDS[match.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(since.strip())
    except ValueError:
        raise Unusable(f"--since {since!r}: give 30s, 10m, 2h, 1d or an ISO time like 2026-12-01T09:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
