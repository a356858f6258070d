"""What every client error carries besides its code and message: the request's id."""

from __future__ import annotations

import re

REQUEST_ID = re.compile(r"[0-9a-f]{32}|[A-Za-z0-9-]{1,128}")


def without_request_id(error: dict) -> dict:
    """`error` minus its `request_id`, which must be there and look like one."""
    rest = dict(error)
    assert REQUEST_ID.fullmatch(rest.pop("request_id", "")), f"no request id in {error}"
    return rest
