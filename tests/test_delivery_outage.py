"""Outages through the real Telegram transport against the fake Bot API: alarms never give up,
a climb reaches everyone of the new tier, recovery is at once, and someone is told."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.transports.memory import MemoryTransport
from tests.delivery_kit import IDS, MR_BROWN, start_rig
from tests.fakes.telegram_api import FakeTelegram

COVER = "I'll have a look in the staff room for you."


@pytest.fixture
async def fake():
    f = FakeTelegram()
    await f.start()
    yield f
    await f.stop()


async def until(predicate, timeout: float, step: float = 0.02) -> float:
    """Wait until predicate() holds; returns the seconds it took (fails after `timeout`)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def past_max_attempts(rig, rows: int) -> None:
    """Wait until each of the first `rows` messages failed or was tried more than 3 times."""
    for _ in range(300):
        done = await rig.query("SELECT COUNT(*) FROM outbox WHERE status='failed' OR attempts>3")
        if done[0][0] >= rows:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not keep trying")


async def test_alarms_outlast_a_long_outage_and_the_climb_reaches_earlier_tiers(tmp_path, fake):
    """Defect 1: after max attempts the cards and cover reply were abandoned; at the climb only the
    new person got a card. Now: nothing alarm-priority gives up, and Bob (tiers 1 and 2) gets his."""
    rig = await start_rig(tmp_path / "s.db", fake, outbox_max_attempts=3)
    try:
        fake.outage()
        await rig.say("alice", MR_BROWN)
        await past_max_attempts(rig, 2)
        await rig.clock.advance(121)  # no ack in tier 1's 2 minutes: climb to tier 2 (Bob and Dana)
        await past_max_attempts(rig, 3)
        fake.outage(False)
        await until(lambda: any("tier 2 of 2" in m.text for m in rig.chat("bob"))
                    and any("Alice Smith" in m.text for m in rig.chat("dana"))
                    and COVER in [m.text for m in rig.chat("alice")], timeout=5)
        assert not await rig.query("SELECT id FROM outbox WHERE priority=0 AND status='failed'")
    finally:
        await rig.engine.stop()


async def test_recovery_releases_every_waiting_alarm_at_once(tmp_path, fake):
    """Defect 2: each waiting message sat out its own backoff after the platform came back."""
    rig = await start_rig(tmp_path / "s.db", fake, outbox_backoff=1, outbox_backoff_max=60)  # the defaults
    try:
        fake.outage()
        await rig.say("alice", MR_BROWN)
        await rig.say("carol", "Can someone bring the red folder")
        await asyncio.sleep(8)
        fake.outage(False)
        def arrived() -> bool:
            cards = "\n".join(m.text for m in rig.chat("bob"))
            return ("From: Alice Smith" in cards and "From: Carol Jones" in cards
                    and bool(rig.chat("alice")) and bool(rig.chat("carol")))

        took = await until(arrived, timeout=20)  # released at once, not after the retry backoff (the rig's is long)
        print(f"waiting alarms on the phones {took:.2f} s after Telegram came back")
    finally:
        await rig.engine.stop()


async def test_admins_are_told_of_an_outage_once_and_of_the_recovery(tmp_path, fake):
    """Must hold: after a minute (here 0.5 s) of failing alarm delivery, admins hear of it on
    another platform, once, with the count of waiting alarms; and again when it recovers."""
    slack = MemoryTransport("slack")
    rig = await start_rig(tmp_path / "s.db", fake, extra_transports=[slack], outbox_outage_notice=0.5,
                          extra_people={"dana": {"name": "Dana Hughes", "role": "admin", "telegram": IDS["dana"],
                                                 "slack": "UDANA", "prefer": "telegram"}})
    try:
        fake.outage()
        await rig.say("alice", MR_BROWN)
        await until(lambda: slack.to("UDANA"), timeout=30)
        await asyncio.sleep(1.0)  # still down: no second notice
        notices = [d.text for d in slack.to("UDANA")]
        assert len(notices) == 1, notices
        assert "Telegram" in notices[0] and "2 alarm messages waiting" in notices[0], notices[0]
        fake.outage(False)
        await until(lambda: len(slack.to("UDANA")) == 2, timeout=5)
        assert "back" in slack.to("UDANA")[1].text.lower()
        kinds = [r[0] for r in await rig.query("SELECT kind FROM alert_events WHERE alert_id=1 ORDER BY id")]
        assert "outage" in kinds and "outage_over" in kinds
    finally:
        await rig.engine.stop()


async def test_a_climb_reaches_an_earlier_tier_person_whose_copy_never_arrived(harness):
    """Must hold: Bob is in tiers 1 and 2; his tier-1 card was refused for good (say he had
    blocked the bot then). At the climb he gets a card again, not only the new people."""
    from bot.transports.base import Undeliverable

    refused = {"n": 0}

    async def refuse_once(delivery):
        if delivery.chat_id == "bob" and not refused["n"]:
            refused["n"] += 1
            raise Undeliverable("Forbidden: bot was blocked by the user")

    harness.transport.fault = refuse_once
    await harness.say("alice", MR_BROWN)
    assert harness.sent("bob") == []
    await harness.advance(121)  # tier 1's two minutes pass: climb to tier 2 (duty managers and admins)
    assert "tier 2 of 2" in harness.last("bob").text
    assert "tier 2 of 2" in harness.last("dana").text
    events = [r[0] for r in await harness.query("SELECT text FROM alert_events WHERE kind='notified'")]
    assert any("Bob Green" in e and "tier 2" in e for e in events), events
