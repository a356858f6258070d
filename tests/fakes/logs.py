"""A fake CloudWatch Logs `FilterLogEvents` on 127.0.0.1, over the service's real JSON 1.1 protocol.

    with FakeCloudWatchLogs(groups=["/aws/lambda/streamgate-dev"]) as fake:
        fake.put("/aws/lambda/streamgate-dev", '{"method": "POST", ...}', timestamp_ms=...)
        # boto3 finds it through AWS_ENDPOINT_URL_CLOUDWATCH_LOGS (fake.env), in this process or a child

It follows the CloudWatch Logs API reference for FilterLogEvents: `POST /` with `X-Amz-Target:
Logs_20140328.FilterLogEvents`; exactly one of logGroupName and logGroupIdentifier; events with a timestamp
before startTime or after endTime are not returned; results are sorted by timestamp, then ingestion time;
`limit` is 1-10000; a page may hold fewer events than fit, or none at all, and still carry a `nextToken`; only
a page without one ends the listing. Errors are `{"__type": Code, "message": ...}` with status 400
(ResourceNotFoundException for an unknown group, InvalidParameterException otherwise).

`filterPattern` understands the JSON patterns of "Using filter patterns to match terms in JSON log events":
`{ $.field = "text" }` (with `*` wildcards), `!=`, numeric `= != < > <= >=`, `&&`, `||` and parentheses.
Anything else is refused the way CloudWatch refuses a malformed pattern.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

TARGET = "Logs_20140328.FilterLogEvents"
STREAM = "2026/12/01/[$LATEST]0123456789abcdef0123456789abcdef"


class LogsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Event:
    group: str
    timestamp: int
    ingestion_time: int
    message: str
    event_id: str
    stream: str = STREAM

    def as_json(self) -> dict[str, Any]:
        return {
            "logStreamName": self.stream,
            "timestamp": self.timestamp,
            "message": self.message,
            "ingestionTime": self.ingestion_time,
            "eventId": self.event_id,
        }


@dataclass
class FakeCloudWatchLogs:
    """`groups` exist; `page_size` events per page; `empty_first_page` answers each new listing with an
    empty page and a nextToken first, as CloudWatch may."""

    groups: list[str]
    page_size: int = 10_000
    empty_first_page: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[list[Event], int]] = {}
        self._ids = itertools.count(1)

    def put(self, group: str, message: str, timestamp_ms: int | None = None, delay_ms: int = 0) -> Event:
        """An event in `group`; `delay_ms` is how long after its timestamp CloudWatch ingested it."""
        stamp = round(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        event = Event(group, stamp, stamp + delay_ms, message, f"{next(self._ids):056d}")
        with self._lock:
            self.events.append(event)
        return event

    @property
    def env(self) -> dict[str, str]:
        # The variable is named for the service ID, "CloudWatch Logs" (AWS SDKs reference guide, "Identifiers
        # for service-specific endpoints"), not for the client name `logs`.
        return {
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": self.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    def __enter__(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = fake._answer(self.headers.get("X-Amz-Target", ""), body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _answer(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            if target != TARGET:
                raise LogsError("UnknownOperationException", f"this fake serves only {TARGET}")
            request = json.loads(body or b"{}")
            with self._lock:
                self.requests.append(request)
                return 200, self._filter(request)
        except LogsError as error:
            return 400, {"__type": error.code, "message": error.message}

    def _filter(self, request: dict[str, Any]) -> dict[str, Any]:
        if ("logGroupName" in request) == ("logGroupIdentifier" in request):
            raise LogsError("InvalidParameterException", "give exactly one of logGroupName and logGroupIdentifier")
        group = request.get("logGroupName") or request["logGroupIdentifier"]
        if group not in self.groups:
            raise LogsError("ResourceNotFoundException", "The specified log group does not exist.")
        limit = request.get("limit", 10_000)
        if not 1 <= limit <= 10_000:
            raise LogsError("InvalidParameterException", "limit must be between 1 and 10000")
        if "nextToken" in request:
            if request["nextToken"] not in self._tokens:
                raise LogsError("InvalidParameterException", "The specified nextToken is invalid.")
            matching, offset = self._tokens.pop(request["nextToken"])
        else:
            matches = pattern(request["filterPattern"]) if request.get("filterPattern") else (lambda _: True)
            start, end = request.get("startTime", 0), request.get("endTime", 2**63)
            matching = sorted(
                (e for e in self.events if e.group == group and start <= e.timestamp <= end and matches(e.message)),
                key=lambda e: (e.timestamp, e.ingestion_time),
            )
            offset = -1 if self.empty_first_page else 0
        if offset < 0:  # an empty page that is not the end
            page, following = [], 0
        else:
            size = min(limit, self.page_size)
            page, following = matching[offset : offset + size], offset + size
        answer: dict[str, Any] = {"events": [event.as_json() for event in page], "searchedLogStreams": []}
        if following < len(matching) or offset < 0:
            token = uuid.uuid4().hex
            self._tokens[token] = (matching, following)
            answer["nextToken"] = token
        return answer


# -- JSON filter patterns ---------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(\(|\)|&&|\|\||!=|<=|>=|=|<|>|\$\.[A-Za-z0-9_.]+|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)')


def pattern(text: str) -> Any:
    """A predicate over log messages for a JSON filter pattern `{ ... }`, or InvalidParameterException."""
    stripped = text.strip()
    if not (stripped.startswith("{") and stripped.endswith("}")):
        raise LogsError("InvalidParameterException", f"this fake knows only JSON filter patterns: {text!r}")
    tokens, rest = [], stripped[1:-1]
    while rest.strip():
        match = _TOKEN.match(rest)
        if not match:
            raise LogsError("InvalidParameterException", f"Invalid filter pattern: {text!r}")
        tokens.append(match.group(1))
        rest = rest[match.end() :]
    parsed, position = _disjunction(tokens, 0, text)
    if position != len(tokens):
        raise LogsError("InvalidParameterException", f"Invalid filter pattern: {text!r}")
    return lambda message: _evaluate(parsed, message)


def _disjunction(tokens: list[str], at: int, text: str) -> tuple[Any, int]:
    # `&&` binds tighter than `||`: a disjunction of conjunctions of terms.
    return _chain(
        tokens, at, text, "||", "or", lambda at: _chain(tokens, at, text, "&&", "and", _term_at(tokens, text))
    )


def _term_at(tokens: list[str], text: str) -> Any:
    return lambda at: _term(tokens, at, text)


def _chain(tokens: list[str], at: int, text: str, joiner: str, tag: str, operand: Any) -> tuple[Any, int]:
    left, at = operand(at)
    while at < len(tokens) and tokens[at] == joiner:
        right, at = operand(at + 1)
        left = (tag, left, right)
    return left, at


def _term(tokens: list[str], at: int, text: str) -> tuple[Any, int]:
    if at < len(tokens) and tokens[at] == "(":
        inner, at = _disjunction(tokens, at + 1, text)
        if at >= len(tokens) or tokens[at] != ")":
            raise LogsError("InvalidParameterException", f"Invalid filter pattern: {text!r}")
        return inner, at + 1
    if at + 2 < len(tokens) and tokens[at].startswith("$.") and tokens[at + 1] in {"=", "!=", "<", ">", "<=", ">="}:
        selector, operator, value = tokens[at], tokens[at + 1], tokens[at + 2]
        if value.startswith('"') and operator not in {"=", "!="}:
            raise LogsError("InvalidParameterException", f"strings compare with = and != only: {text!r}")
        return ("compare", selector[2:].split("."), operator, value), at + 3
    raise LogsError("InvalidParameterException", f"Invalid filter pattern: {text!r}")


def _evaluate(node: Any, message: str) -> bool:
    if node[0] in {"or", "and"}:
        left, right = _evaluate(node[1], message), _evaluate(node[2], message)
        return (left or right) if node[0] == "or" else (left and right)
    _, path, operator, value = node
    try:
        found: Any = json.loads(message)
        for key in path:
            found = found[key]
    except (ValueError, KeyError, TypeError):
        return False  # not JSON, or no such field: the event does not match
    if value.startswith('"'):
        matched = isinstance(found, str) and fnmatch.fnmatchcase(found, json.loads(value))
        return matched if operator == "=" else not matched
    if isinstance(found, bool) or not isinstance(found, int | float):
        return False
    number = float(value)
    return {
        "=": found == number,
        "!=": found != number,
        "<": found < number,
        ">": found > number,
        "<=": found <= number,
        ">=": found >= number,
    }[operator]
