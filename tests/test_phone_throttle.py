"""Throttles per number, counted in the store (every instance on it shares them): calls 3 per 15 min (7 an hour,
15 in 3 hours), texts 5 per 15 min (11, 21). A throttled rung is on the timeline as throttled and the ladder
climbs at once; it never waits in silence. Real clients against the fakes, both stores."""

from __future__ import annotations

import pytest

from tests import phone_kit


@pytest.mark.parametrize("rung,most,channel", [("call", 3, "voice"), ("sms", 5, "sms")])
async def test_past_the_throttle_a_rung_is_recorded_throttled_and_climbs_at_once(tmp_path, db, rung, most, channel):
    tiers = [{"notify": ["duty-manager"], "wait": "2m", rung: True},
             {"notify": ["role:admin"], "wait": "3m", "repeat": "forever"}]
    bot = await phone_kit.start(tmp_path, db, tiers)
    bob = phone_kit.e164(bot.phones["bob"])
    bot.twilio.script(bob, "busy")  # a call that is not answered: never acknowledges
    try:
        await bot.verified_before("bob")
        reached = (lambda: len(bot.twilio.to(bob))) if rung == "call" else (
            lambda: len([s for s in bot.notify.to(bob) if s.body.startswith("saferbot alert")]))
        ids = []
        for _ in range(most + 1):
            await bot.say("alice", "Is Mr Brown in today?")
            ids.append((await bot.query("SELECT MAX(id) FROM alerts"))[0][0])
            await bot.clock.advance(60)  # a minute apart: all inside 15 minutes
        await bot.until(lambda: reached() == most)
        last = ids[-1]
        what = "call" if rung == "call" else "text"
        assert await bot.on_timeline(last, f"{what} to Bob Green throttled ({most} {what}s in 15 min to one number")
        assert await bot.on_timeline(last, "the phone rung was throttled; climbing to tier 2 at once")
        assert (await bot.query("SELECT tier FROM alerts WHERE id=?", last))[0][0] == 1
        assert [r[0] for r in await bot.query("SELECT status FROM phone_sends WHERE number=? AND channel=? ORDER BY id",
                                              bob, channel)][-1] == "throttled"
        await bot.settle()
        assert reached() == most  # nothing more went to the phone
        await bot.clock.advance(15 * 60)  # the first ones leave the 15-minute window
        await bot.say("alice", "Is Mr Brown in today?")
        await bot.until(lambda: reached() == most + 1)
    finally:
        await bot.stop()
