"""Slack: a message sent again after a crash is not duplicated (the platform lets us check), and a
card sent again says it is a repeat. Real slack-bolt against the fake Slack Web API."""

from __future__ import annotations

import sqlite3

import pytest

from tests.fakes.slack_api import FakeSlack
from tests.test_slack import ALICE, BOB, CAROL, DANA, STRANGER, start_bot


@pytest.fixture
async def fake():
    f = FakeSlack(users={ALICE, BOB, CAROL, DANA, STRANGER})
    await f.start()
    yield f
    await f.stop()


async def crash_and_restart(bot, fake, tmp_path, where: str):
    """The process dies after Slack took a message but before the result was written."""
    await bot.engine.stop()
    con = sqlite3.connect(tmp_path / "saferbot.db")
    con.execute(f"UPDATE outbox SET status='sending', next_at=0 WHERE {where}")
    con.commit()
    con.close()
    fake.connected.clear()
    return await start_bot(tmp_path, fake)


async def test_a_reply_resent_after_a_crash_is_not_duplicated(tmp_path, fake):
    bot = await start_bot(tmp_path, fake)
    try:
        await fake.acked(await fake.dm(ALICE, "help"))
        await bot.settle()
        first = [m.shown for m in fake.seen(ALICE)]
        assert len(first) == 1
    except BaseException:
        await bot.engine.stop()
        raise
    bot = await crash_and_restart(bot, fake, tmp_path, "chat_id='U0ALICE' AND kind='send'")
    try:
        await bot.settle()
        assert [m.shown for m in fake.seen(ALICE)] == first  # found by its metadata: not sent twice
        status = await bot.engine.store.read(lambda c: c.execute(
            "SELECT status, error FROM outbox WHERE chat_id='U0ALICE'").fetchall())
        assert [r[0] for r in status] == ["sent"], [tuple(r) for r in status]
    finally:
        await bot.engine.stop()


async def test_a_card_resent_after_a_crash_says_it_is_a_repeat(tmp_path, fake):
    bot = await start_bot(tmp_path, fake)
    try:
        await fake.acked(await fake.dm(ALICE, "Is Mr Brown in today?"))
        await bot.settle()
        assert "(alert #1)" in fake.seen(BOB)[0].shown
    except BaseException:
        await bot.engine.stop()
        raise
    bot = await crash_and_restart(bot, fake, tmp_path, "chat_id='U0BOB' AND kind='send'")
    try:
        await bot.settle()
        cards = fake.seen(BOB)
        assert len(cards) == 2 and "(alert #1)" in cards[1].shown and "REPEAT" in cards[1].shown
        assert cards[1].buttons
    finally:
        await bot.engine.stop()
