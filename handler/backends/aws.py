"""What both AWS backends share: a botocore client made off the start-up path, error mapping, and a
relay of the raw HTTP body that forwards bytes as they arrive and can be cut off from another thread.

boto3 is imported here only inside functions: importing it is most of a cold start, so the client is
made on a background thread while the server starts and answers its readiness check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import anyio

from handler.body_reader import BodyReader
from handler.upstream import Upstream, UpstreamError


class Client:
    """A boto3 client for `service`, either handed in (tests) or being made on a background thread."""

    def __init__(self, service: str, ready: Any = None) -> None:
        self._made: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if ready is not None:
            self._made.set_result(ready)
        else:
            threading.Thread(target=self._make, args=(service,), name=f"{service}-client", daemon=True).start()

    async def call(self, operation: str, /, **kwargs: Any) -> Any:
        """Run a blocking botocore call off the event loop, mapping its failures to `UpstreamError`."""
        try:
            client = await asyncio.wrap_future(self._made)
        except Exception as error:
            raise UpstreamError("UpstreamUnavailable", f"no AWS client: {error}") from error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await anyio.to_thread.run_sync(partial(getattr(client, operation), **kwargs), abandon_on_cancel=True)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise UpstreamError(details.get("Code", ""), details.get("Message", str(error))) from error
        except BotoCoreError as error:
            raise UpstreamError("UpstreamUnavailable", str(error)) from error

    def _make(self, service: str) -> None:
        try:
            import boto3
            from botocore.config import Config

            # An agent may think for minutes before its first byte; the Lambda's timeout (<= 900 s) bounds it.
            config = Config(
                connect_timeout=5,
                read_timeout=900,
                retries={"mode": "standard", "total_max_attempts": 3},
                tcp_keepalive=True,
                user_agent_extra="streamgate",
            )
            self._made.set_result(boto3.client(service, config=config))
        except Exception as error:  # surfaces on the first call, as a 502 with its reason
            self._made.set_exception(error)


def raw_body(raw: Any, media_type: str) -> Upstream:
    """The body of a urllib3 response, forwarded as the network delivers it.

    `read1` returns whatever has arrived; botocore's `iter_chunks`/`iter_lines` would wait until
    their chunk size fills, which buffers a slow answer whole.
    """
    reader = BodyReader(raw.read1)

    async def close() -> None:
        reader.close()
        await close_raw(raw)

    return Upstream(media_type, _interrupted_as_upstream_error(reader.chunks()), close)


async def _interrupted_as_upstream_error(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except Exception as error:  # urllib3's ProtocolError, a reset socket, a read cut off by close()
        raise UpstreamError("UpstreamInterrupted", f"the upstream stream broke: {error}") from error


async def close_raw(raw: Any) -> None:
    """Close a urllib3 response even while a thread is blocked reading it."""
    # shutdown() wakes a blocked read at once; close() then drops the connection, so the upstream
    # stops generating (and billing) for a client that has gone.
    with contextlib.suppress(Exception):
        raw.shutdown()
    with contextlib.suppress(Exception):
        raw.close()
