"""The bench's own measurements, small: readers in processes of their own, lags split at the streams' opening."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator

import pytest

from bench import first_byte, measure
from bench.registry import Relay
from tests.fakes import FakeAgentCore


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    with FakeAgentCore() as fake, measure.relay_through_app(fake) as (base, app):
        yield Relay(fake, base, app)


def test_every_event_of_every_stream_is_timed_and_the_opening_is_split_off(relay):
    lag = measure.forwarding_lag(relay.base, relay.fake, streams=3, events=6, gap=0.01)
    assert lag.events == 18
    # The first event of each stream is sent while streams are still opening; later ones are not.
    assert 0 < lag.steady_events <= 18 - 3
    assert 0 <= lag.p50_ms <= lag.max_ms
    assert lag.steady_max_ms <= lag.max_ms


def test_direct_and_relayed_reads_each_read_the_whole_stream(relay):
    flow = measure.throughput(relay.base, relay.app, relay.fake, 2 * 2**20)
    assert flow.direct_mib_s > 0
    assert flow.relay_mib_s > 0
    assert flow.rss_growth_mib < 64


def test_a_reader_that_fails_says_why():
    with pytest.raises(RuntimeError, match=re.escape("bench.reader relay http://127.0.0.1:9/invoke 1 failed")):
        measure._reader("relay", "http://127.0.0.1:9/invoke", "1")


def test_too_few_events_for_a_steady_state_is_an_error_not_a_zero(relay):
    with pytest.raises(RuntimeError, match="once every stream was open"):
        measure.forwarding_lag(relay.base, relay.fake, streams=2, events=1, gap=0.0)


def test_peak_rss_growth_counts_this_action_only_not_an_earlier_peak():
    def allocate(mib: int) -> int:
        block = bytearray(mib * 2**20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        return len(block)

    growth, size = measure.peak_rss_growth(os.getpid(), lambda: allocate(48))
    assert size == 48 * 2**20
    assert 40 <= growth <= 60
    # The 48 MiB peak above is reset before the next action, whose own peak is far smaller.
    small, _ = measure.peak_rss_growth(os.getpid(), lambda: allocate(4))
    assert small < 12


def test_the_cold_first_byte_is_the_answers_not_a_comment_before_it():
    stream = io.BytesIO(b": opening\n\n" + b'data: {"text": "first"}\n\n')
    first_byte.read_until(stream.read1, b"first")
    assert stream.read() == b""
    with pytest.raises(RuntimeError, match="ended before b'first'"):
        first_byte.read_until(io.BytesIO(b": opening\n\n").read1, b"first")
