"""Blocking botocore calls, each on a thread of its own, that a client leaving can abandon cheaply.

Not a pool: a call abandoned by its client still waits for an answer nobody will read, and in a pool
a storm of them keeps every thread from the callers who stayed. A thread each costs little while it
waits on the network, but preparing a call (serialising, signing) is Python work under the GIL: with
hundreds preparing at once the event loop would get a sliver of the CPU. So only `PREPARING` calls
prepare at a time (a gate released at botocore's `before-send`, when the request is ready to leave);
the others wait at the gate for free, and one whose client has left by its turn is never sent.

Whether the client is still there is asked of its connection (`CLIENT_CONNECTED`, set by the relay from
the server's `still_connected` check), not of the event loop: in a storm the loop learns of departures
late, and a call it still thinks wanted would be sent for nobody.
"""

from __future__ import annotations

import _thread
import concurrent.futures
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

CLIENT_CONNECTED: contextvars.ContextVar[Callable[[], bool]] = contextvars.ContextVar(
    "client_connected", default=lambda: True
)

PREPARING = 8
_gate = threading.BoundedSemaphore(PREPARING)
_holding = threading.local()


class Abandoned(Exception):
    """The call's client left before its turn: it was never sent."""


class Call:
    """One call's fate, shared by the waiting coroutine and the call's thread."""

    def __init__(self, client_connected: Callable[[], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._sent = False
        self._connected = client_connected or CLIENT_CONNECTED.get()

    def abandon(self) -> bool:
        """Give the call up; True if it had gone out already (so its work may be under way)."""
        with self._lock:
            self._abandoned = True
            return self._sent

    def run(self, action: Callable[[], T]) -> T:
        _gate.acquire()
        _holding.gate = True
        try:
            with self._lock:
                if self._abandoned or not self._connected():
                    self._abandoned = True
                    raise Abandoned
                self._sent = True
            return action()
        finally:
            _release()


def watch(client: Any) -> Any:
    """Let `client`'s calls open the gate for the next one as soon as their request is ready to leave."""
    client.meta.events.register("before-send", _ready_to_send, unique_id="streamgate-gate")
    return client


def _ready_to_send(**_: Any) -> None:
    _release()  # returning None: botocore sends the request as usual


def _release() -> None:
    if getattr(_holding, "gate", False):
        _holding.gate = False
        _gate.release()


class NoThread(Exception):
    """No thread could be started for a call: the process is at its limit of threads."""


def in_own_thread(action: Callable[[], T], then: Callable[[T], object] | None = None) -> concurrent.futures.Future[T]:
    """`action()` on a new daemon thread; its outcome in the future returned (NoThread at the process's
    thread limit), and after a success `then(result)` on the same thread (a call's thread goes on to
    read its answer). Never blocks: not `threading.Thread.start()`, which waits until the new thread
    holds the GIL. Under a busy GIL that is milliseconds a thread, and calls arriving together would
    start one after another."""
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    outcome.set_running_or_notify_cancel()
    try:
        _thread.start_new_thread(_run, (outcome, action, then))
    except RuntimeError as error:  # "can't start new thread"
        outcome.set_exception(NoThread(str(error)))
    return outcome


def _run(outcome: concurrent.futures.Future[T], action: Callable[[], T], then: Callable[[T], object] | None) -> None:
    try:
        result = action()
    except BaseException as error:  # handed over; the waiter decides what it means
        outcome.set_exception(error)
        # The error's traceback holds this frame: without this the future, holding the error, would be
        # a reference cycle (concurrent.futures' own workers let go of theirs the same way).
        outcome = None  # type: ignore[assignment]
        return
    outcome.set_result(result)
    if then is not None:
        then(result)


class CleanupLane:
    """Calls that clean up after clients who left (StopRuntimeSession), run in order on one thread once
    the departures pause.

    A crowd leaving at once is when the event loop is busiest: it must hear each hang-up and tell each
    upstream (the FIN costs microseconds). A cleanup call is milliseconds of Python under the GIL, so
    run at once they would slow the loop's hearing of the next hang-up. They wait until no departure has
    come for `settle` seconds, or until the oldest has waited `at_most`: a lone departure is cleaned up
    within `settle`, a storm's right after it.
    """

    def __init__(self, settle: float = 0.05, at_most: float = 0.5) -> None:
        self.settle = settle
        self.at_most = at_most
        self._waiting: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, action: Callable[[], object]) -> None:
        """Run `action` once the departures pause; its failure is its own to handle."""
        self._waiting.put(action)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aws-cleanup", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            for action in self._settled():
                try:
                    action()
                except Exception:  # one cleanup failing must not end the lane for the others
                    log.exception("streamgate: a cleanup call failed")

    def _settled(self) -> list[Callable[[], object]]:
        batch = [self._waiting.get()]
        give_up_at = time.monotonic() + self.at_most
        while (wait := min(self.settle, give_up_at - time.monotonic())) > 0:
            try:
                batch.append(self._waiting.get(timeout=wait))
            except queue.Empty:
                break
        return batch
