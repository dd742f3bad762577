"""In process: when the store cannot commit an event, its platform is not told it arrived.

`Engine.receive` raises NotStored; the Telegram transport leaves the getUpdates offset
where it was (the update comes back), the Slack transport sends no Socket Mode ack (or
answers 500 over HTTP), so the platform delivers the event again, and then it acts once.
Real python-telegram-bot and slack-bolt against the fake servers, a real SQLite file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from bot.engine import Engine, NotStored
from bot.messages import Inbound
from tests.conftest import settle
from tests.fakes.slack_api import FakeSlack, post_signed
from tests.fakes.telegram_api import FakeTelegram
from tests.test_intake_confirmed import CODEWORD, COVER, SL_ALICE, SL_BOB, TG_ALICE, slack_cards, slack_texts
from tests.test_slack import add_visit_form
from tests.test_slack import start_bot as start_slack
from tests.test_telegram import start_bot as start_telegram


@pytest.fixture
async def telegram():
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def slack():
    fake = FakeSlack(users={SL_ALICE, SL_BOB})
    await fake.start()
    yield fake
    await fake.stop()


def failing_intake(engine: Engine, times: int = 1) -> None:
    """The next `times` intake batches fail as a full disk would: nothing of them is committed."""
    real, left = engine._intake_batch, [times]

    def batch(conn: sqlite3.Connection, msgs: list[Inbound]) -> list:
        if left[0] > 0:
            left[0] -= 1
            time.sleep(0.05)  # (on the database thread) a failing write is rarely instant
            raise sqlite3.OperationalError("database or disk is full")
        return real(conn, msgs)

    engine._intake_batch = batch  # type: ignore[method-assign]


async def test_receive_raises_not_stored_when_the_event_cannot_be_committed(harness):
    codeword = Inbound("console", "ev-1", "alice", "alice", text=CODEWORD)
    failing_intake(harness.engine)
    with pytest.raises(NotStored):
        await harness.engine.receive(codeword)
    await settle(harness.engine)
    assert (await harness.query("SELECT COUNT(*) FROM inbound"))[0][0] == 0
    assert harness.texts("alice") == [COVER]  # answered without the store (issue 10); the platform sends it again
    await harness.engine.receive(codeword)  # the platform's retry
    await harness.engine.receive(codeword)  # and a late duplicate
    await settle(harness.engine)
    assert harness.texts("alice") == [COVER]
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 1


async def test_telegram_update_not_stored_stays_unconfirmed_and_comes_again(tmp_path, telegram):
    fake = telegram
    b = await start_telegram(tmp_path, fake)
    try:
        alice = await b.register("alice", TG_ALICE, "Alice")
        failing_intake(b.engine)
        uid = fake.say(alice, CODEWORD)
        await fake.wait_for(lambda: COVER in fake.texts(TG_ALICE), timeout=8)  # answered without the store
        await fake.wait_for(lambda: b.transport._offset == uid + 1, timeout=8)  # then stored on the resend
        await asyncio.sleep(0.2)
        assert fake.texts(TG_ALICE).count(COVER) == 1
        assert await b.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        await b.engine.stop()


async def test_slack_event_not_stored_is_not_acked_and_acts_once_when_sent_again(tmp_path, slack):
    fake = slack
    b = await start_slack(tmp_path, fake, people={"alice": SL_ALICE, "bob": SL_BOB})
    try:
        failing_intake(b.engine)
        env = await fake.dm(SL_ALICE, CODEWORD)
        await asyncio.sleep(0.5)
        assert env not in fake.acks and env in fake.unacked
        assert slack_texts(fake, SL_ALICE) == [COVER]  # answered without the store, once
        await fake.redeliver()  # Slack's retry
        await fake.acked(env)
        await b.settle()
        assert slack_texts(fake, SL_ALICE) == [COVER]
        assert len(slack_cards(fake, SL_BOB)) == 1
    finally:
        await b.engine.stop()


async def test_slack_http_event_not_stored_is_answered_500_then_acts_once(tmp_path, slack):
    fake = slack
    b = await start_slack(tmp_path, fake, http=True, people={"alice": SL_ALICE, "bob": SL_BOB})
    try:
        url = f"http://127.0.0.1:{b.slack.http_port}/slack/events"
        body = fake.message_event(SL_ALICE, CODEWORD, event_id="Ev-HTTP-500")
        failing_intake(b.engine)
        assert (await post_signed(url, body))[0] == 500
        assert (await post_signed(url, body, retry_num=1))[0] == 200
        assert (await post_signed(url, body, retry_num=2))[0] == 200
        await b.settle()
        assert slack_texts(fake, SL_ALICE) == [COVER]
        assert len(slack_cards(fake, SL_BOB)) == 1
    finally:
        await b.engine.stop()


async def test_slack_form_submission_not_stored_keeps_the_modal_open_then_acts_once(tmp_path, slack):
    fake = slack
    b = await start_slack(tmp_path, fake, people={"alice": SL_ALICE, "bob": SL_BOB})
    visit_form = add_visit_form(b.engine.app)
    try:
        await fake.acked(await fake.dm(SL_ALICE, "visitnote"))
        await b.settle()
        await fake.acked(await fake.press(SL_ALICE, "Fill in"))
        view_id = (await fake.wait_for(lambda: list(fake.views), 3, "the modal to open"))[0]
        failing_intake(b.engine)
        env = await fake.submit(SL_ALICE, view_id, {"when": "14:00", "where": "toilets", "hurt": "no"})
        await asyncio.sleep(0.5)
        assert env not in fake.acks, "an unacked submission keeps the modal open, with Slack's error on it"
        await fake.redeliver()
        ack = await fake.acked(env)
        assert not (ack.get("payload") or {}).get("response_action")
        await b.settle()
        assert visit_form == [("alice", "42", {"when": "2026-11-25 14:00", "where": "toilets", "hurt": "no"})]
        assert slack_texts(fake, SL_ALICE).count("Thanks, visit note saved.") == 1
    finally:
        await b.engine.stop()


async def test_telegram_polling_survives_getupdates_errors(tmp_path, telegram):
    fake = telegram
    b = await start_telegram(tmp_path, fake)
    try:
        alice = await b.register("alice", TG_ALICE, "Alice")
        fake.fail("getUpdates", 502, times=2)
        fake.fail("getUpdates", 409, times=1, description="Conflict: terminated by other getUpdates request")
        fake.say(alice, CODEWORD)
        await fake.wait_for(lambda: COVER in fake.texts(TG_ALICE), timeout=8)
        assert [c.status for c in fake.calls_of("getUpdates")].count(502) == 2
        assert await b.query("SELECT COUNT(*) FROM alerts") == [(1,)]
    finally:
        await b.engine.stop()


@pytest.mark.parametrize("error", ["unable to open database file", "disk I/O error", "database is locked"])
async def test_any_store_fault_while_handling_is_not_stored_not_a_sorry(harness, monkeypatch, error):
    """A store fault raised inside a handler (no file descriptor left, an I/O error, a lock) is the store
    failing, not a handler bug: the sender gets the cover reply without the store, the event stays
    unconfirmed, and the platform's resend raises the alert once."""
    import bot.engine

    real, left = bot.engine.route, [1]

    def route(tx, msg):
        if left[0] > 0:
            left[0] -= 1
            raise sqlite3.OperationalError(error)
        return real(tx, msg)

    monkeypatch.setattr(bot.engine, "route", route)
    codeword = Inbound("console", "ev-fd", "alice", "alice", text=CODEWORD)
    with pytest.raises(NotStored):
        await harness.engine.receive(codeword)
    await settle(harness.engine)
    assert harness.texts("alice") == [COVER]  # never "Sorry": the codeword was not lost
    assert (await harness.query("SELECT COUNT(*) FROM inbound"))[0][0] == 0
    await harness.engine.receive(codeword)  # the platform sends it again
    await settle(harness.engine)
    assert harness.texts("alice") == [COVER]
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 1
