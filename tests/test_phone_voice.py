"""The phone rung by call (Twilio): the call reads the alert and asks for 1; only the digit 1 acknowledges;
answered with no key, a wrong key, voicemail, busy, no answer and failed climb the ladder at once; callbacks
without a valid X-Twilio-Signature get 403 and change nothing. Real engine, real twilio client against the
fake Twilio (which fetches the TwiML, parses the <Gather> and plays the outcome back, signed), both stores."""

from __future__ import annotations

import pytest

from tests import phone_kit

MR_BROWN = "Is Mr Brown in today?"


bot = phone_kit.bot_fixture(phone_kit.CALL_TIER, verified=("bob",))


async def raised(bot) -> int:
    await bot.say("alice", MR_BROWN)
    return (await bot.query("SELECT MAX(id) FROM alerts"))[0][0]


async def status_of(bot, alert_id: int) -> tuple:
    return tuple((await bot.query("SELECT status, tier FROM alerts WHERE id=?", alert_id))[0])


async def test_pressing_1_on_the_call_acknowledges(bot):
    alert_id = await raised(bot)
    bob = phone_kit.e164(bot.phones["bob"])
    await bot.until(lambda: bot.twilio.to(bob) and bot.twilio.to(bob)[0].done)
    call = bot.twilio.to(bob)[0]
    assert "<Gather" in call.twiml and 'numDigits="1"' in call.twiml
    assert call.said[0] == (f"This is saferbot. Alert {alert_id}: Aggressive or threatening person - colleague needed "
                            "now at Central Library. Nobody has acknowledged it in chat.")
    assert "Press 1 to acknowledge." in call.said
    assert "Acknowledged" in call.digits_answer
    assert await status_of(bot, alert_id) == ("acked", 0)
    assert await bot.on_timeline(alert_id, "Bob Green pressed 1 on the call")
    assert not await bot.on_timeline(alert_id, "climbing")


@pytest.mark.parametrize("outcome,said", [("no-key", "answered, no key pressed"), ("pressed-2", "answered, a key "
                         "other than 1"), ("voicemail", "voicemail"), ("busy", "busy"), ("no-answer", "no answer"),
                         ("failed", "the call failed")])
async def test_a_call_that_is_not_answered_with_1_climbs_at_once(bot, outcome, said):
    bob = phone_kit.e164(bot.phones["bob"])
    bot.twilio.script(bob, outcome)
    alert_id = await raised(bot)
    await bot.until(lambda: bot.twilio.to(bob) and bot.twilio.to(bob)[0].done)
    await bot.until(lambda: bot.on_timeline(alert_id, f"call to Bob Green: {said}"))
    assert await status_of(bot, alert_id) == ("open", 1)  # the next tier now, not after 2 minutes
    assert await bot.on_timeline(alert_id, "climbing to tier 2 at once")
    if outcome == "voicemail":
        assert "<Gather" not in bot.twilio.to(bob)[0].twiml  # a machine is never asked for a key


async def test_callbacks_without_twilio_signature_are_refused(bot):
    bob = phone_kit.e164(bot.phones["bob"])
    bot.twilio.forge = True
    alert_id = await raised(bot)
    await bot.until(lambda: bot.twilio.to(bob) and bot.twilio.to(bob)[0].done)
    call = bot.twilio.to(bob)[0]
    assert call.status_answer == 403 and "Alert" not in call.twiml
    assert await status_of(bot, alert_id) == ("open", 0)
    assert not await bot.on_timeline(alert_id, "call to Bob Green:")


async def test_an_admin_turns_calls_off_and_on_and_staff_cannot(bot):
    await bot.say("alice", "phone off bob calls")
    assert "Only an admin" in bot.chat_texts("alice")[-1]
    await bot.say("dana", "phone off bob calls")
    assert bot.chat_texts("dana")[-1] == "Bob Green: calls turned off."
    alert_id = await raised(bot)
    assert await bot.on_timeline(alert_id, "Bob Green has no verified number for a call")
    assert bot.twilio.calls == []
    await bot.say("dana", "phone on Bob Green")
    assert bot.chat_texts("dana")[-1] == "Bob Green: calls turned on."
    await bot.clock.advance(3 * 3600)
    await raised(bot)
    await bot.until(lambda: bot.twilio.calls)
