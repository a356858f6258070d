"""Baton: one item at a time from the pump to the writer, with nothing queued and a timeout on waiting."""

from __future__ import annotations

import asyncio

import pytest

from handler.baton import TIMED_OUT, Baton


def test_a_waiting_taker_gets_the_item_and_the_giver_goes_on_without_waiting_for_it_to_run():
    async def scenario() -> list[str]:
        baton: Baton[str] = Baton()
        steps: list[str] = []

        async def taker() -> None:
            steps.append(f"took {await baton.take(within=5)}")

        async def giver() -> None:
            await baton.give("a")
            steps.append("given")

        taking = asyncio.ensure_future(taker())
        await asyncio.sleep(0)  # the taker is waiting now
        await asyncio.gather(giver(), taking)
        return steps

    # An asyncio.Queue with join() would have the giver wait for the taker to run: "took a", "given".
    assert asyncio.run(scenario()) == ["given", "took a"]


def test_a_give_with_nobody_waiting_returns_only_once_the_item_is_taken():
    async def scenario() -> tuple[bool, bool, str]:
        baton: Baton[str] = Baton()
        giving = asyncio.ensure_future(baton.give("a"))
        await asyncio.sleep(0.01)
        waited = not giving.done()
        item = await baton.take(within=5)
        await asyncio.sleep(0)
        return waited, giving.done(), item

    waited_for_a_taker, returned_once_taken, item = asyncio.run(scenario())
    assert waited_for_a_taker
    assert returned_once_taken
    assert item == "a"


def test_items_arrive_in_order_and_no_more_than_one_waits_at_a_time():
    async def scenario() -> tuple[list[int], list[int]]:
        baton: Baton[int] = Baton()
        given: list[int] = []

        async def giver() -> None:
            for n in range(5):
                await baton.give(n)
                given.append(n)

        giving = asyncio.ensure_future(giver())
        await asyncio.sleep(0.01)
        ahead = list(given)  # what the giver got past with nobody taking
        taken = [await baton.take(within=5) for _ in range(5)]
        await giving
        return ahead, taken

    ahead, taken = asyncio.run(scenario())
    assert ahead == []
    assert taken == [0, 1, 2, 3, 4]


def test_a_take_with_nothing_given_in_time_returns_timed_out_and_the_next_item_still_comes():
    async def scenario() -> tuple[object, float, object]:
        baton: Baton[str] = Baton()
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = await baton.take(within=0.05)
        waited = loop.time() - started
        giving = asyncio.ensure_future(baton.give("late"))
        second = await baton.take(within=5)
        await giving
        return first, waited, second

    first, waited, second = asyncio.run(scenario())
    assert first is TIMED_OUT
    assert 0.04 <= waited < 1
    assert second == "late"


def test_an_item_given_while_a_timed_out_taker_has_yet_to_wake_is_kept_for_its_next_take():
    async def scenario() -> tuple[object, object]:
        baton: Baton[str] = Baton()
        taker = asyncio.ensure_future(baton.take(within=0.01))
        await asyncio.sleep(0.05)  # timed out; the taker is scheduled, not yet run
        giving = asyncio.ensure_future(baton.give("kept"))
        first = await taker
        second = await baton.take(within=5)
        await giving
        return first, second

    first, second = asyncio.run(scenario())
    assert first is TIMED_OUT
    assert second == "kept"


def test_a_take_that_got_its_item_leaves_no_timer_running():
    async def scenario() -> list[bool]:
        baton: Baton[str] = Baton()
        taker = asyncio.ensure_future(baton.take(within=60))
        await asyncio.sleep(0)
        await baton.give("a")
        await taker
        # asyncio's own loop keeps its timers in `_scheduled`; a cancelled one stays there, marked so.
        return [timer.cancelled() for timer in asyncio.get_running_loop()._scheduled]

    assert all(asyncio.run(scenario()))


def test_a_give_cancelled_before_its_item_was_taken_leaves_nothing_behind():
    async def scenario() -> object:
        baton: Baton[str] = Baton()
        giving = asyncio.ensure_future(baton.give("never"))
        await asyncio.sleep(0)
        giving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await giving
        baton.give_nowait("last")
        return await baton.take(within=5)

    assert asyncio.run(scenario()) == "last"


def test_give_nowait_hands_over_to_a_waiting_taker_or_leaves_the_item_for_the_next_take():
    async def scenario() -> list[object]:
        baton: Baton[str] = Baton()
        taker = asyncio.ensure_future(baton.take(within=5))
        await asyncio.sleep(0)
        baton.give_nowait("to the waiting one")
        first = await taker
        baton.give_nowait("left")
        return [first, await baton.take(within=5)]

    assert asyncio.run(scenario()) == ["to the waiting one", "left"]


def test_a_second_item_before_the_first_is_taken_is_refused():
    async def scenario() -> None:
        baton: Baton[str] = Baton()
        baton.give_nowait("first")
        with pytest.raises(RuntimeError, match="already waiting"):
            baton.give_nowait("second")
        with pytest.raises(RuntimeError, match="already waiting"):
            await baton.give("third")
        assert await baton.take(within=5) == "first"

    asyncio.run(scenario())
