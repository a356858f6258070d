"""A reader thread that hears its client hang up, whatever the event loop is doing.

When a crowd leaves at once the event loop hears the hang-ups one after another, each behind the
unwinding of the streams before it. The thread reading an answer is idle in the meantime, waiting for
the upstream's next bytes: so it waits for the client's hang-up as well (one poll(2) on both sockets)
and, hearing it, hangs up on the upstream itself. The FIN then leaves within microseconds of the
client's, wherever the loop stands.

The client's socket is the server's (see `handler.serving.ClientConnection`); polling it reads nothing.
Should its descriptor be closed and reused while a read is in progress, the worst case is a hang-up not
heard here: the event loop's own handling of the hang-up still tells the upstream.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import BinaryIO

from handler.serving import ClientConnection

# The client has gone: what the server's own check looks for, or its descriptor is closed already.
_CLIENT_GONE = ClientConnection.GONE | select.POLLNVAL


class ClientGone(Exception):
    """The client hung up while its answer was being read; the upstream has been hung up on."""


class WatchedFile:
    """`file.read1`, each read after the first waiting (without the GIL) for the upstream's bytes or
    the client's hang-up, whichever comes first. On a hang-up `hang_up()` runs and ClientGone is raised.

    The first read is never held back: it may be served from what was buffered with the headers, which
    the upstream's socket does not show. After it the file's buffer is empty (`read1` returns buffered
    bytes when there are any, and reads straight from the socket when there are none)."""

    def __init__(self, file: BinaryIO, upstream: socket.socket, client_fd: int, hang_up: Callable[[], None]) -> None:
        self._file = file
        self._hang_up = hang_up
        self._client_fd = client_fd
        timeout = upstream.gettimeout()
        self._timeout_ms = None if timeout is None else int(timeout * 1000)
        self._poller = select.poll()
        self._poller.register(upstream, select.POLLIN | select.POLLPRI)
        self._poller.register(client_fd, _CLIENT_GONE)
        self._first = True

    def read1(self, size: int) -> bytes:
        if self._first:
            self._first = False
        else:
            self._wait()
        return self._file.read1(size)

    def _wait(self) -> None:
        ready = self._poller.poll(self._timeout_ms)
        if not ready:
            raise TimeoutError("timed out")  # what the socket's own read would have raised
        if any(fd == self._client_fd for fd, _ in ready):
            self._hang_up()
            raise ClientGone
