"""The reading thread hears its client hang up: between reads it waits on the upstream's socket and the
client's at once, and hangs up on the upstream itself, whatever the event loop is doing."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from handler.backends.hangup import ClientGone, WatchedFile


@pytest.fixture
def pairs():
    """(upstream, its far end), (client, its far end): the app's two sockets and their peers."""
    upstream, upstream_peer = socket.socketpair()
    client, client_peer = socket.socketpair()
    yield (upstream, upstream_peer), (client, client_peer)
    for sock in (upstream, upstream_peer, client, client_peer):
        sock.close()


class SocketFile:
    """The upstream's socket file as http.client holds it, with bytes buffered with the headers."""

    def __init__(self, sock: socket.socket, buffered: bytes = b"") -> None:
        self.sock = sock
        self.buffered = buffered

    def read1(self, size: int) -> bytes:
        if self.buffered:
            data, self.buffered = self.buffered, b""
            return data
        return self.sock.recv(size)


def watched(upstream: socket.socket, client: socket.socket, buffered: bytes = b"") -> tuple[WatchedFile, list]:
    hung_up: list[float] = []

    def hang_up() -> None:
        hung_up.append(time.perf_counter())
        upstream.shutdown(socket.SHUT_RDWR)

    return WatchedFile(SocketFile(upstream, buffered), upstream, client.fileno(), hang_up), hung_up


def test_a_read_returns_the_upstreams_bytes_when_they_come(pairs):
    (upstream, upstream_peer), (client, _) = pairs
    file, hung_up = watched(upstream, client, buffered=b"head")
    assert file.read1(100) == b"head"
    threading.Timer(0.05, upstream_peer.sendall, [b"data: 1\n\n"]).start()
    assert file.read1(100) == b"data: 1\n\n"
    assert hung_up == []


def test_the_first_read_is_served_from_what_was_buffered_without_waiting(pairs):
    (upstream, _), (client, _) = pairs
    file, _ = watched(upstream, client, buffered=b"buffered with the headers")
    assert file.read1(100) == b"buffered with the headers"  # the socket has nothing: a wait would hang


def test_a_hang_up_while_waiting_hangs_up_on_the_upstream_and_raises_client_gone(pairs):
    (upstream, upstream_peer), (client, client_peer) = pairs
    file, hung_up = watched(upstream, client, buffered=b"head")
    file.read1(100)
    threading.Timer(0.05, client_peer.close).start()
    with pytest.raises(ClientGone):
        file.read1(100)
    assert len(hung_up) == 1
    upstream_peer.settimeout(2)
    assert upstream_peer.recv(100) == b"", "the upstream got the FIN"


def test_a_client_that_shut_only_its_sending_side_counts_as_gone(pairs):
    (upstream, _), (client, client_peer) = pairs
    file, hung_up = watched(upstream, client, buffered=b"head")
    file.read1(100)
    client_peer.shutdown(socket.SHUT_WR)
    with pytest.raises(ClientGone):
        file.read1(100)
    assert hung_up


def test_a_wait_longer_than_the_upstreams_timeout_raises_timeout_as_its_read_would(pairs):
    (upstream, _), (client, _) = pairs
    upstream.settimeout(0.05)
    file, hung_up = watched(upstream, client, buffered=b"head")
    file.read1(100)
    with pytest.raises(TimeoutError):
        file.read1(100)
    assert hung_up == []
