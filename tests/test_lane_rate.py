"""The platform-wide rate counts requests as the platform does: by when they arrive.

Telegram allows 30 messages a second over all chats and answers a 429 beyond that; a private chat's
429 holds the whole platform back. A request arrives some time after it leaves: a store write or a
busy event loop delays one and not the next. Counting each request from when it was picked let
requests picked a second apart arrive closer together (seen: 31 arrivals in one second, then twenty
429s in a 200-alarm flood). Each request now counts until a second after its answer.
"""

from __future__ import annotations

import asyncio

import pytest

import bot.lane as lane_module
from bot.lane import Lane, Result
from bot.messages import Delivery
from bot.model import Priority
from bot.store.outbox import Claimed
from bot.transports.base import Limits
from bot.transports.memory import MemoryTransport


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def reply(i: int) -> Claimed:
    d = Delivery(id=i, kind="send", platform="telegram", chat_id=f"c{i}", user_id=f"c{i}", text=f"reply {i}",
                 buttons=(), priority=Priority.reply)
    return Claimed(d, card=None, card_version=None, person=f"c{i}", alert_id=None, attempts=0, tag="reply")


async def at_once(batch: list[Claimed]) -> list[Claimed]:
    return batch


async def settle() -> None:
    for _ in range(100):
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(lane_module, "time", c)
    return c


async def test_a_request_counts_against_the_rate_until_a_second_after_its_answer(clock):
    transport = MemoryTransport("telegram", Limits(per_second=2))
    answer = asyncio.Event()
    asked: list[int] = []

    async def slow(d: Delivery) -> None:  # the platform takes its time to answer
        asked.append(d.id)
        await answer.wait()

    transport.fault = slow
    results: list[Result] = []
    lane = Lane(transport, results.append, at_once)
    runner = asyncio.create_task(lane.run())
    try:
        for i in (1, 2, 3):
            lane.push(reply(i))
        await settle()
        assert asked == [1, 2]
        clock.now += 5  # still no answer: both may yet arrive, so the third may not leave
        lane.wake.set()
        await settle()
        assert asked == [1, 2]
        answer.set()  # both answered now: they arrived by now, and count for a second more
        await settle()
        assert asked == [1, 2] and len(results) == 2
        clock.now += 0.9
        lane.wake.set()
        await settle()
        assert asked == [1, 2]
        clock.now += 0.2
        lane.wake.set()
        await settle()
        assert asked == [1, 2, 3]
    finally:
        for t in [runner, *lane.tasks]:
            t.cancel()
        await asyncio.gather(runner, *lane.tasks, return_exceptions=True)
