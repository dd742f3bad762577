"""A lane picks its next message by looking at a few queue heads, never by walking every waiting row.

The lone-working bench (10,000 sessions, 100 duty managers) slowed about 4x after the delivery work
merged: a hand-off now waits for the store to mark its rows started, so a manager's chat stays busy
for a store round trip while thousands of cards wait behind it, and the lane walked the whole
waiting list on every wake-up. These tests count the looks (how often the lane asks whether a chat
is busy), not time, so they mean the same on a loaded machine.
"""

from __future__ import annotations

import asyncio

from bot.lane import Lane, Result
from bot.messages import Delivery
from bot.model import Priority
from bot.store.outbox import Claimed
from bot.transports.base import Limits
from bot.transports.memory import MemoryTransport

MANAGERS, CARDS = 100, 30  # cards per manager


class Looks(set):
    """The lane's set of busy chats, counting how often it is asked."""

    asked = 0

    def __contains__(self, chat: object) -> bool:
        self.asked += 1
        return super().__contains__(chat)


def card(i: int, chat: str, priority: int = Priority.alarm) -> Claimed:
    d = Delivery(id=i, kind="send", platform="console", chat_id=chat, user_id=chat, text=f"card {i}",
                 buttons=(), priority=priority)
    return Claimed(d, card=f"alert:{i}", card_version=1, person=chat, alert_id=i, attempts=0, tag="notify")


async def drive(lane: Lane, rows: list[Claimed], until: int, results: list[Result]) -> None:
    runner = asyncio.create_task(lane.run())
    try:
        for c in rows:
            lane.push(c)
            await asyncio.sleep(0)  # rows arrive while earlier hand-offs wait for the store
        for _ in range(100_000):
            if len(results) >= until:
                break
            await asyncio.sleep(0)
    finally:
        runner.cancel()
        for t in [runner, *lane.tasks]:
            t.cancel()
        await asyncio.gather(runner, *lane.tasks, return_exceptions=True)


async def slow_hand_off(batch: list[Claimed]) -> list[Claimed]:
    for _ in range(20):  # the store's round trip to mark the rows started
        await asyncio.sleep(0)
    return batch


async def test_cards_for_busy_chats_cost_a_few_looks_each():
    transport = MemoryTransport("console")
    results: list[Result] = []
    lane = Lane(transport, results.append, slow_hand_off)
    lane.busy = Looks()
    rows = [card(m * CARDS + k + 1, f"dm{m}") for m in range(MANAGERS) for k in range(CARDS)]
    await drive(lane, rows, len(rows), results)
    sent = [r.claimed.delivery.id for r in results if r.outcome == "sent"]
    assert sorted(sent) == [c.delivery.id for c in rows]  # every card, once
    for m in range(MANAGERS):  # each manager's cards in the order they were raised
        mine = [i for i in sent if (i - 1) // CARDS == m]
        assert mine == sorted(mine)
    assert lane.busy.asked < 10 * len(rows), f"{lane.busy.asked} looks for {len(rows)} cards"


async def test_a_paced_chat_with_thousands_waiting_costs_few_looks():
    """One duty manager's chat paced (an hour between messages, so it stays paced however slow the machine) with 2,000 cards waiting: the other chats'
    messages still go at once, without the lane walking that queue for each of them."""
    transport = MemoryTransport("console", Limits(per_chat_interval=3600.0))
    results: list[Result] = []
    lane = Lane(transport, results.append, slow_hand_off)
    lane.busy = Looks()
    paced = [card(i, "dm0") for i in range(1, 2001)]
    others = [card(3000 + i, f"w{i}", Priority.reply if i % 2 else Priority.alarm) for i in range(200)]
    await drive(lane, paced + others, len(others) + 1, results)
    sent = [r for r in results if r.outcome == "sent"]
    assert len({r.digest for r in sent if r.claimed.delivery.chat_id == "dm0"}) == 1  # one message so far
    assert {r.claimed.delivery.id for r in sent} >= {c.delivery.id for c in others}
    assert lane.waiting == 2000 - sum(r.claimed.delivery.chat_id == "dm0" for r in sent)
    assert lane.busy.asked < 10 * (len(paced) + len(others)), f"{lane.busy.asked} looks"


async def test_an_unpaced_chat_hands_off_its_waiting_cards_together_in_order():
    """The console has no per-chat pacing: cards that queued for a manager while one hand-off waited for
    the store go with the next hand-off together (one started mark), not one store round trip each, and
    still in the order they were raised."""
    transport = MemoryTransport("console")
    results: list[Result] = []
    hand_offs: list[int] = []

    async def counted(batch: list[Claimed]) -> list[Claimed]:
        hand_offs.append(len(batch))
        return await slow_hand_off(batch)

    lane = Lane(transport, results.append, counted)
    rows = [card(i, "dm0") for i in range(1, 201)]
    await drive(lane, rows, len(rows), results)
    assert [r.delivery.id for r in transport.records] == list(range(1, 201))
    # a hand-off takes 20 steps and a card arrives each step: about 20 go together, not one each
    assert sum(hand_offs) == 200 and len(hand_offs) <= 12, hand_offs


async def test_a_lease_gone_stale_mid_run_sends_nothing_more():
    """Nothing leaves unless the lease is known valid: the rest of a run is held, reported for retry."""
    transport = MemoryTransport("console")
    results: list[Result] = []
    valid = {"n": 3}

    def may_send() -> bool:
        valid["n"] -= 1
        return valid["n"] >= 0

    async def at_once(batch: list[Claimed]) -> list[Claimed]:
        return batch

    lane = Lane(transport, results.append, at_once, may_send)
    for c in [card(i, "dm0") for i in range(1, 11)]:
        lane._put(c)
    await lane._deliver(lane._take("dm0"))
    sent = [r.delivery.id for r in transport.records]
    assert sent and len(sent) < 10
    held = [r.claimed.delivery.id for r in results if r.outcome == "retry"]
    assert sorted(sent + held) == list(range(1, 11)) and not set(sent) & set(held)
