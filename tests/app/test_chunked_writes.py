"""In chunked coding a big piece of body goes to the socket as the very object the app sent, its framing
beside it in one vectored write, where uvicorn would copy it into a new bytes joined with the framing.
Small pieces keep uvicorn's own path; the client reads the same chunked stream either way."""

from __future__ import annotations

import asyncio
import logging

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from handler import serving
from tests.app.scripted import Pause, ScriptedBackend, Send
from tests.loopback import send_invoke

BIG = b"data: " + b"x" * (2 * serving.WRITE_AS_IS) + b"\n\n"
SMALL = b"data: one\n\n"
START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}


class RecordingTransport(asyncio.Transport):
    """What was handed to the socket, call by call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[bytes]]] = []

    def write(self, data: bytes) -> None:
        if data:  # as asyncio's and uvloop's transports, an empty write is no write
            self.calls.append(("write", [data]))

    def writelines(self, parts) -> None:  # type: ignore[override]
        self.calls.append(("writelines", list(parts)))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def written(self) -> bytes:
        return b"".join(b"".join(parts) for _, parts in self.calls)


def cycle_on(transport: RecordingTransport) -> RequestResponseCycle:
    """uvicorn's own request/response cycle, for an HTTP/1.1 POST, writing to `transport`, made the
    app's as the server makes it."""
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": "/invoke", "headers": []}
    logger = logging.getLogger("test")
    cycle = RequestResponseCycle(
        scope, transport, FlowControl(transport), logger, logger, False, [], asyncio.Event(), False, True, lambda: None
    )
    serving.become(cycle, serving.ChunkedAsIs)
    return cycle


def body(data: bytes, more: bool = True) -> dict:
    return {"type": "http.response.body", "body": data, "more_body": more}


def sent(*messages: dict) -> RecordingTransport:
    """What reaches the socket when the app sends `messages` through uvicorn's cycle."""
    transport = RecordingTransport()

    async def respond() -> None:
        cycle = cycle_on(transport)
        for message in messages:
            await cycle.send(message)

    asyncio.run(respond())
    return transport


def test_a_big_piece_is_written_as_sent_beside_its_framing():
    transport = sent(START, body(BIG), body(b"", more=False))
    vectored = [parts for kind, parts in transport.calls if kind == "writelines"]
    assert len(vectored) == 1
    size_line, data, crlf = vectored[0]
    assert data is BIG, "the body was copied"
    assert (size_line, crlf) == (b"%x\r\n" % len(BIG), b"\r\n")
    assert transport.written().endswith(b"\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(BIG), BIG))


def test_small_pieces_and_the_end_keep_uvicorns_framing():
    transport = sent(START, body(SMALL), body(BIG, more=False))
    assert [kind for kind, _ in transport.calls] == ["write", "write", "writelines", "write"]
    head, chunked = transport.written().split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head
    assert chunked == b"%x\r\n%b\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(SMALL), SMALL, len(BIG), BIG)


def test_a_paused_socket_is_waited_for_before_a_big_piece_is_written():
    transport = RecordingTransport()

    async def respond() -> list[int]:
        cycle = cycle_on(transport)
        await cycle.send(START)
        cycle.flow.pause_writing()
        sending = asyncio.create_task(cycle.send(body(BIG)))
        await asyncio.sleep(0.01)
        while_paused = len(transport.calls)
        cycle.flow.resume_writing()
        await sending
        return [while_paused, len(transport.calls)]

    assert asyncio.run(respond()) == [1, 2], "written while the socket asked to wait"


def test_nothing_is_written_once_the_client_has_gone():
    transport = RecordingTransport()

    async def respond() -> None:
        cycle = cycle_on(transport)
        await cycle.send(START)
        cycle.disconnected = True
        await cycle.send(body(BIG))

    asyncio.run(respond())
    assert [kind for kind, _ in transport.calls] == ["write"]


def test_a_client_reads_big_and_small_pieces_in_valid_chunked_coding(serve):
    pieces = [SMALL, BIG, Pause(0.02), b"data: two\n\n", BIG + BIG]
    backend = ScriptedBackend([piece if isinstance(piece, Pause) else Send(piece) for piece in pieces])
    prompt = b'{"prompt": "go"}'
    with serve(backend) as base, send_invoke(base, prompt, timeout=5) as connection:
        client = h11.Connection(h11.CLIENT)
        client.send(h11.Request(method="POST", target="/invoke", headers=[("Host", "x"), ("Content-Length", "0")]))
        client.send(h11.EndOfMessage())
        received, ended = b"", False
        while not ended:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(connection.recv(65536))
            elif isinstance(event, h11.Response):
                assert event.status_code == 200
                assert (b"transfer-encoding", b"chunked") in event.headers
            elif isinstance(event, h11.Data):
                received += event.data
            else:
                ended = isinstance(event, h11.EndOfMessage)
    assert received == b"".join(piece for piece in pieces if isinstance(piece, bytes))
