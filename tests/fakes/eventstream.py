"""Encoding of AWS event stream messages (application/vnd.amazon.eventstream), as botocore parses them.

Message layout (all integers big-endian):
    prelude:  total length (u32), headers length (u32), CRC32 of those 8 bytes (u32)
    headers:  per header: name length (u8), name, value type (u8; 7 = string), length (u16), value
    payload:  here always JSON
    trailer:  CRC32 of everything before it (u32)
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

_STRING = 7


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One complete event stream message with string-valued `headers`."""
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, body: Mapping[str, Any]) -> bytes:
    """An event message, e.g. `event("contentBlockStop", {"contentBlockIndex": 0})`."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(body).encode())


def exception(exception_type: str, message: str, **fields: Any) -> bytes:
    """A modelled exception message (e.g. "throttlingException"); botocore raises `EventStreamError`."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message, **fields}).encode())


def _encode_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    value_part = struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return struct.pack(">B", len(raw_name)) + raw_name + value_part
