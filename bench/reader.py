"""The bench's clients, each run as a process of its own (`python -m bench.reader …`), so no reader
shares a GIL with the fake or with the app it measures. Prints one JSON document on stdout.

    direct TOTAL         read TOTAL bytes from the AgentCore fake as a client does (botocore, raw read1)
    relay URL TOTAL      read TOTAL bytes from the app's /invoke with the same read1 loop
    events URL N         N concurrent /invoke streams; the arrival time of every completed event

Times are `time.perf_counter()`, CLOCK_MONOTONIC on Linux, so they compare with the fake's `sent_at`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/bench-agent"
READ_SIZE = 64 * 1024


def session_id(n: int) -> str:
    return f"bench-session-{n:04d}-" + "0" * 24


def _drain(read1: Callable[[int], bytes]) -> int:
    received = 0
    while chunk := read1(READ_SIZE):
        received += len(chunk)
    return received


def direct(total: int) -> dict[str, float]:
    """botocore's call, then urllib3's read1 on the raw body until it ends: what a Python client of
    the upstream does. `relay` reads the app with the same loop, so the ratio is what a client gives
    up by reading through the relay. The client is made before the clock starts (the app makes its
    own at start-up)."""
    import boto3
    from botocore.config import Config

    client = boto3.client("bedrock-agentcore", config=Config(retries={"total_max_attempts": 1}))
    started = time.perf_counter()
    answer = client.invoke_agent_runtime(agentRuntimeArn=ARN, runtimeSessionId=session_id(0), payload=b"{}")
    received = _drain(answer["response"]._raw_stream.read1)
    return _read(received, total, started)


def relay(url: str, total: int) -> dict[str, float]:
    """The same read1 loop on urllib3 as `direct`, so the ratio is the relay's alone."""
    import urllib3

    pool = urllib3.PoolManager()
    started = time.perf_counter()
    response = pool.request("POST", url, json={"prompt": "firehose"}, preload_content=False, timeout=120)
    received = _drain(response.read1)
    response.release_conn()
    return _read(received, total, started)


def _read(received: int, total: int, started: float) -> dict[str, float]:
    seconds = time.perf_counter() - started
    if received != total:
        raise SystemExit(f"read {received} of {total} bytes")
    return {"seconds": seconds, "bytes": received}


async def _stream(url: str, n: int) -> tuple[str, list[float]]:
    """One /invoke over a bare asyncio socket (no HTTP library's own cost in the figures): the moment
    each blank line (an event's end) arrives, decoding the chunked body as it comes."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    sid = session_id(n)
    body = json.dumps({"prompt": "bench", "session_id": sid}).encode()
    writer.write(
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200") or b"transfer-encoding: chunked" not in head.lower():
        raise SystemExit(f"stream {n}: {head.decode(errors='replace')}")
    arrivals: list[float] = []
    last = b""
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        data = (await reader.readexactly(size + 2))[:-2]
        now = time.perf_counter()
        arrivals += [now] * (last + data).count(b"\n\n")
        last = data[-1:]
    writer.close()
    return sid, arrivals


async def events(url: str, streams: int) -> dict[str, list[float]]:
    return dict(await asyncio.gather(*(_stream(url, n) for n in range(streams))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reader", description=__doc__)
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("direct").add_argument("total", type=int)
    relayed = modes.add_parser("relay")
    relayed.add_argument("url")
    relayed.add_argument("total", type=int)
    streamed = modes.add_parser("events")
    streamed.add_argument("url")
    streamed.add_argument("streams", type=int)
    options = parser.parse_args(argv)
    if options.mode == "direct":
        result: object = direct(options.total)
    elif options.mode == "relay":
        result = relay(options.url, options.total)
    else:
        result = asyncio.run(events(options.url, options.streams))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
