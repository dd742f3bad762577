"""Cards on Telegram stay truthful: a long card split over several messages, and a card sent
again after a crash (real transport, fake Bot API)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.delivery_kit import MR_BROWN, start_rig
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
async def fake():
    f = FakeTelegram()
    await f.start()
    yield f
    await f.stop()


async def wait_for(predicate, timeout: float = 5.0):
    for _ in range(int(timeout / 0.02)):
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_a_long_split_card_stays_truthful_after_stand_down(tmp_path, fake):
    """Defect 4: after `stand down` the part with the buttons showed the first part's text."""
    rig = await start_rig(tmp_path / "s.db", fake)
    try:
        note = " ".join(f"word{i}" for i in range(800))  # about 6,000 characters
        await rig.say("alice", "backup " + note)
        parts = await wait_for(lambda: len(rig.chat("bob")) >= 2 and any(m.buttons for m in rig.chat("bob")) and rig.chat("bob"))
        assert sum(1 for m in parts if m.buttons) == 1, "buttons live on exactly one part"
        before = [m.text for m in parts]
        await rig.say("alice", "stand down")
        await wait_for(lambda: all("Stood down" in m.text for m in rig.chat("bob")), timeout=5)
        after = rig.chat("bob")
        assert len(after) == len(before)
        assert sum(1 for m in after if m.buttons) == 0  # nothing left to press on a stood-down request
        texts = [m.text for m in after]
        assert len(set(texts)) == len(texts), "no part repeats another"
        # the note is still there, in order, across the parts
        joined = " ".join(texts)
        assert joined.index("word10 ") < joined.index("word500 ") < joined.index("word799")
    finally:
        await rig.engine.stop()


async def test_a_card_sent_again_after_a_crash_says_it_is_a_repeat_of_the_same_alert(tmp_path, fake):
    """Defect 5: a copy resent after a restart looked like a new alarm."""
    db = tmp_path / "s.db"
    rig = await start_rig(db, fake)
    try:
        await rig.say("alice", MR_BROWN)
        first = (await wait_for(lambda: rig.chat("bob")))[0]
    finally:
        await rig.engine.stop()
    # the crash: the process died after Telegram took the card but before the result was written
    con = sqlite3.connect(db)
    con.execute("UPDATE outbox SET status='sending', message_ref=NULL WHERE chat_id='1002' AND kind='send'")
    con.commit()
    con.close()
    rig = await start_rig(db, fake)
    try:
        again = await wait_for(lambda: len(rig.chat("bob")) >= 2 and rig.chat("bob")[1])
        assert "alert #1" in first.text.lower() and "alert #1" in again.text.lower()
        assert "repeat" in again.text.lower()
        assert "repeat" not in first.text.lower()
        assert again.buttons  # still a working card
    finally:
        await rig.engine.stop()
