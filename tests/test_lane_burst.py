"""A flood of alarms to one chat spends the platform's spare burst on a full digest, never on a small one.

Telegram lets a private chat take a short burst (two messages) beyond its pace of one a second. The
first alarm goes at once, alone (a lone alarm never waits for company); the burst's spare message
then goes as soon as a full digest is waiting, instead of a second later. A part-full digest waits
for the chat's steady pace, so the spare message is still there when the rest of a flood arrives.
The pace here is an hour, so "waits" means the same on a loaded machine: nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import re

from bot import digest
from bot.lane import Lane, Result
from bot.messages import Button, Delivery
from bot.model import Priority
from bot.store.outbox import Claimed
from bot.transports.base import Limits
from bot.transports.memory import MemoryTransport

HOUR = 3600.0
FROM = re.compile(r"From: Person (\d+)")


def alarm(i: int, chat: str = "boss") -> Claimed:
    text = (f"[HIGH] Aggressive or threatening person - colleague needed now (alert #{i})\n"
            f"From: Person {i:05d}, Central\nRaised: 09:32\n"
            "Status: waiting for someone to acknowledge (tier 1 of 2)")
    d = Delivery(id=i, kind="send", platform="telegram", chat_id=chat, user_id=chat, text=text,
                 buttons=(Button("Acknowledge", "alert.ack", str(i)),), priority=Priority.alarm, live=True)
    return Claimed(d, card=f"alert:{i}", card_version=1, person=chat, alert_id=i, attempts=0, tag="notify")


async def at_once(batch: list[Claimed]) -> list[Claimed]:
    return batch


async def settle() -> None:
    for _ in range(200):
        await asyncio.sleep(0)


class Rig:
    def __init__(self, burst: int = 2):
        self.transport = MemoryTransport("telegram", Limits(per_chat_interval=HOUR, per_chat_burst=burst))
        self.results: list[Result] = []
        self.lane = Lane(self.transport, self.results.append, at_once)

    def shown(self) -> list[list[int]]:
        """The alarms each message to the chat names, in the order the messages went."""
        return [sorted(int(n) for n in FROM.findall(r.delivery.text)) for r in self.transport.records]

    async def __aenter__(self) -> Rig:
        self.runner = asyncio.create_task(self.lane.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for t in [self.runner, *self.lane.tasks]:
            t.cancel()
        await asyncio.gather(self.runner, *self.lane.tasks, return_exceptions=True)


async def test_a_full_digest_goes_at_once_on_the_spare_burst():
    async with Rig() as rig:
        rig.lane.push(alarm(1))
        await settle()
        assert rig.shown() == [[1]]  # the first alarm at once, alone
        for i in range(2, 2 + digest.MAX_CARDS + 3):
            rig.lane.push(alarm(i))
        await settle()
        # the next message names a full digest's worth at once, an hour before the chat's steady pace
        assert rig.shown() == [[1], list(range(2, 2 + digest.MAX_CARDS))]
        more = rig.lane.queues["boss"]
        assert len(more) == 3  # the rest wait for the pace: the burst is spent
        for i in range(100, 100 + digest.MAX_CARDS):
            rig.lane.push(alarm(i))
        await settle()
        assert len(rig.shown()) == 2


async def test_a_part_full_digest_waits_for_the_pace_and_keeps_the_spare_for_a_flood():
    async with Rig() as rig:
        rig.lane.push(alarm(1))
        await settle()
        for i in range(2, 5):
            rig.lane.push(alarm(i))
        await settle()
        assert rig.shown() == [[1]]  # three waiting: not worth the spare message
        for i in range(5, 5 + digest.MAX_CARDS):
            rig.lane.push(alarm(i))
        await settle()
        assert rig.shown() == [[1], list(range(2, 2 + digest.MAX_CARDS))]  # full now: it goes


async def test_a_chat_without_a_burst_keeps_its_pace_even_when_full():
    async with Rig(burst=1) as rig:
        rig.lane.push(alarm(1))
        await settle()
        for i in range(2, 2 + digest.MAX_CARDS + 3):
            rig.lane.push(alarm(i))
        await settle()
        assert rig.shown() == [[1]]


def test_telegram_allows_a_private_chat_a_burst_of_two_and_a_group_none():
    from bot.transports.telegram import TelegramTransport

    t = TelegramTransport.__new__(TelegramTransport)
    assert t.chat_burst("1001") == 2 and t.chat_burst("-100123") == 1
