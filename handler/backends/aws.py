"""What both AWS backends share: one botocore client per process, error mapping, and a relay of the
raw HTTP body that forwards bytes as they arrive and can be cut off from another thread."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from handler.settings import ConfigError
from handler.upstream import UpstreamError

T = TypeVar("T")

READ_SIZE = 64 * 1024

# An agent may think for minutes before its first byte; the Lambda's own timeout (<= 900 s) is the bound.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=900,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
    user_agent_extra="streamgate",
)


def make_client(service: str) -> Any:
    try:
        return boto3.client(service, config=CLIENT_CONFIG)
    except NoRegionError:
        raise ConfigError("AWS_REGION is not set (Lambda sets it; export it when running locally)") from None


async def call(function: Callable[..., T], /, **kwargs: Any) -> T:
    """Run a blocking botocore call off the event loop, mapping its failures to `UpstreamError`."""
    try:
        return await anyio.to_thread.run_sync(partial(function, **kwargs), abandon_on_cancel=True)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise UpstreamError(details.get("Code", ""), details.get("Message", str(error))) from error
    except BotoCoreError as error:
        raise UpstreamError("UpstreamUnavailable", str(error)) from error


async def relay_raw(raw: Any) -> AsyncIterator[bytes]:
    """The body of a urllib3 response, chunk by chunk as the network delivers it.

    `read1` returns whatever has arrived; botocore's `iter_chunks`/`iter_lines` would wait until
    their chunk size fills, which buffers a slow answer whole.
    """
    while True:
        try:
            chunk = await anyio.to_thread.run_sync(raw.read1, READ_SIZE, abandon_on_cancel=True)
        except Exception as error:  # urllib3 ProtocolError, a reset socket, a read cut off by close()
            raise UpstreamError("UpstreamInterrupted", f"the upstream stream broke: {error}") from error
        if not chunk:
            return
        yield chunk


def closer(raw: Any) -> Callable[[], Any]:
    """Close a urllib3 response even while a worker thread is blocked reading it."""

    async def close() -> None:
        # shutdown() wakes a blocked read1 at once; close() then drops the connection, so the
        # upstream stops generating (and billing) for a client that has gone.
        with contextlib.suppress(Exception):
            raw.shutdown()
        with contextlib.suppress(Exception):
            raw.close()

    return close
