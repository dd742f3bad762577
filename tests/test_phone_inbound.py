"""Texts in (GOV.UK Notify's inbound number, its callback with the bearer token): STOP turns texts off (admins
told, START turns them back on); a codeword from a verified number raises that person's alert with the cover reply
by text; OK checks a lone worker in; a codeword from an unknown number is told to the admins. Both stores."""

from __future__ import annotations

from tests import phone_kit

bot = phone_kit.bot_fixture(phone_kit.SMS_TIER)


def texts_to(bot, who: str) -> list[str]:
    return [s.body for s in bot.notify.to(bot.phones[who])]


async def test_a_codeword_texted_from_a_verified_number_raises_the_alert_with_the_cover_reply(bot):
    await bot.verify("alice")
    assert await bot.notify.text_in(bot.phones["alice"], "Is Mr Brown in today?") == 204
    await bot.until(lambda: "I'll have a look in the staff room for you." in texts_to(bot, "alice"))
    [(alert_id, person, kind, reply_platform)] = await bot.query("SELECT id, person, kind, reply_platform FROM alerts")
    assert (person, kind, reply_platform) == ("alice", "codeword", "sms")
    assert any("Aggressive or threatening person" in t for t in bot.chat_texts("bob"))  # the ladder runs
    await bot.chat.say("bob", action="alert.ack", arg=str(alert_id))  # bob presses Acknowledge in chat:
    # alice hears the discreet ack reply by text
    await bot.until(lambda: "Mr Brown has just come in, he'll be with you in a minute." in texts_to(bot, "alice"))


async def test_a_codeword_from_an_unknown_number_is_told_to_the_admins(bot):
    await bot.notify.text_in("07700 900999", "Can someone bring the red folder")
    await bot.until(lambda: any("Unverified sender" in t and "sms" in t for t in bot.chat_texts("dana")))
    assert await bot.query("SELECT * FROM alerts") == []
    assert [s for s in bot.notify.sent if s.to == "+447700900999"] == []  # nothing texted back to a stranger


async def test_stop_turns_texts_off_and_start_back_on(bot):
    await bot.verify("bob")
    await bot.notify.text_in(bot.phones["bob"], "STOP")
    await bot.until(lambda: any("texted STOP" in t for t in bot.chat_texts("dana")))
    assert dict(await bot.query("SELECT channel, state FROM contact_methods WHERE person='bob'")) == \
        {"sms": "disabled", "voice": "verified"}  # calls stay until an admin turns them off
    await bot.say("alice", "Is Mr Brown in today?")
    alert_id = (await bot.query("SELECT MAX(id) FROM alerts"))[0][0]
    assert await bot.on_timeline(alert_id, "Bob Green has no verified number for a text")
    await bot.notify.text_in(bot.phones["bob"], "start")
    await bot.until(lambda: "saferbot: texts are back on." in texts_to(bot, "bob"))
    assert any("texted START" in t for t in bot.chat_texts("dana"))
    assert dict(await bot.query("SELECT channel, state FROM contact_methods WHERE person='bob'"))["sms"] == "verified"


async def test_ok_texted_checks_a_lone_worker_in(bot):
    await bot.verify("alice")
    await bot.say("alice", "lone 45m home visit")
    assert (await bot.query("SELECT last_checkin FROM lone_sessions WHERE status='live'"))[0][0] is None
    await bot.notify.text_in(bot.phones["alice"], "OK")
    await bot.until(lambda: any("checked in" in t for t in texts_to(bot, "alice")))
    assert (await bot.query("SELECT last_checkin FROM lone_sessions WHERE status='live'"))[0][0] is not None
