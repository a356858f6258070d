"""Backends whose answer is a script, for the relay's and the renderers' own behaviour (no AWS, no network):
`ScriptedBackend` relays bytes like an agent, `ScriptedModel` answers typed events like a model.
`Until(seen)` (the fakes' lock-step step) waits for the test to say the client has what came before."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio

from handler import events
from handler.contract import AgentRequest, Conversation
from handler.upstream import Upstream, UpstreamError
from tests.fakes import Until


@dataclass
class Send:
    data: bytes


@dataclass
class Pause:
    seconds: float


@dataclass
class Fail:
    code: str
    message: str = "it broke"


@dataclass
class Crash:
    """A bug rather than an upstream failure: an exception the relay does not expect."""


@dataclass
class ScriptedBackend:
    """Plays `script` for every request; `refuse` makes `open` fail before the stream starts, after
    `open_delay` seconds (an upstream slow to answer its first byte)."""

    script: list[Send | Pause | Until | Fail | Crash]
    refuse: Exception | None = None
    open_delay: float = 0.0
    name: str = "scripted"
    open_cancelled: list[float] = field(default_factory=list)
    opened: list[AgentRequest] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    closed_at: list[float] = field(default_factory=list)

    async def ready(self) -> str | None:
        return None

    async def open(self, request: AgentRequest) -> Upstream:
        self.opened.append(request)
        try:
            await anyio.sleep(self.open_delay)
        except anyio.get_cancelled_exc_class():
            self.open_cancelled.append(time.perf_counter())
            raise
        if self.refuse:
            raise self.refuse
        return Upstream("text/event-stream", self._play(), self._close)

    async def _play(self) -> AsyncIterator[bytes]:
        for step in self.script:
            if isinstance(step, Pause):
                await anyio.sleep(step.seconds)
            elif isinstance(step, Until):
                await anyio.to_thread.run_sync(step.seen.wait, step.timeout, abandon_on_cancel=True)
            elif isinstance(step, Fail):
                raise UpstreamError(step.code, step.message)
            elif isinstance(step, Crash):
                raise RuntimeError("a bug in the backend")
            else:
                self.sent_at.append(time.perf_counter())
                yield step.data

    async def _close(self) -> None:
        self.closed_at.append(time.perf_counter())


@dataclass
class ScriptedModel:
    """A model backend that answers every conversation with `script` (typed events, `Pause`s and
    `Fail`s), recording what it was asked; `refuse` fails `converse` before the answer starts."""

    script: list[events.Event | Pause | Fail] = field(default_factory=lambda: [events.Done("end_turn")])
    refuse: Exception | None = None
    name: str = "scripted-model"
    model: str = "scripted-model-v1"
    asked: list[Conversation] = field(default_factory=list)
    closed: list[float] = field(default_factory=list)

    async def ready(self) -> str | None:
        return None

    async def converse(self, conversation: Conversation) -> events.Answer:
        self.asked.append(conversation)
        if self.refuse:
            raise self.refuse
        return events.Answer(self._play(), self._close)

    async def _play(self) -> AsyncIterator[events.Event]:
        for step in self.script:
            if isinstance(step, Pause):
                await anyio.sleep(step.seconds)
            elif isinstance(step, Fail):
                raise UpstreamError(step.code, step.message)
            else:
                yield step

    async def _close(self) -> None:
        self.closed.append(time.perf_counter())
