"""Hand-off: a transport that is still connecting is not a delivery failure, and an alert's rungs keep order.

The real Telegram transport against the fake Bot API. Telegram cannot be reached when the engine
starts (every call answers 502), so the transport keeps connecting in the background while an
alert is raised and climbs. Before: every waiting row was 'delivered' into "not connected to
Telegram yet", counted as a failed attempt and put into retry backoff, so a lower rung could go out
after a higher one. Now the rows wait, uncounted, and go in order the moment the transport connects.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.delivery_kit import IDS, MR_BROWN, start_rig, until
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
async def fake():
    f = FakeTelegram()
    await f.start()
    yield f
    await f.stop()




async def test_rows_wait_uncounted_for_a_transport_still_connecting_and_rungs_go_in_order(tmp_path, fake, caplog):
    fake.down = True  # Telegram unreachable at start: the transport retries its connection in the background
    rig = await start_rig(tmp_path / "s.db", fake, outbox_backoff=0.5, outbox_backoff_max=5)
    try:
        await rig.say("alice", MR_BROWN)
        await asyncio.sleep(0.3)
        await rig.clock.advance(121)  # nobody acknowledged in tier 1's 2 minutes: tier 2 (bob and dana)
        await asyncio.sleep(0.3)
        fake.down = False
        await until(lambda: rig.chat("bob") and rig.chat("dana"))

        # rung 1 (bob, the duty manager) was handed off no later than rung 2 (dana, an admin only in
        # tier 2): one hand-off in the lane's order, not each row after its own backoff
        rows = await rig.query("SELECT chat_id, attempts, sent_at FROM outbox WHERE kind='send' AND tag='notify'")
        first_try = {chat: at for chat, attempts, at in rows if attempts == 1}
        if len(first_try) == 2:  # (a send that timed out on a loaded machine is retried: then its time says nothing)
            assert first_try[str(IDS["bob"])] <= first_try[str(IDS["dana"])], rows
        # waiting for the connection was not a failed attempt: every attempt counted reached Telegram
        for chat, attempts, _ in await rig.query("SELECT chat_id, attempts, 0 FROM outbox WHERE status='sent'"):
            calls = [c for c in fake.calls_of("sendMessage") + fake.calls_of("editMessageText")
                     if str(c.params.get("chat_id")) == chat]
            assert 1 <= attempts <= len(calls), (chat, attempts, len(calls))
        assert "not connected to Telegram yet" not in caplog.text
    finally:
        await rig.engine.stop()
