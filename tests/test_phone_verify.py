"""Phone numbers as contact methods: pending until `phone verify` and the texted code typed back in chat
(valid 15 min, at most 3 sends an hour per number); only verified numbers are ever texted or called.
Real engine, real Notify client against the fake Notify, both stores."""

from __future__ import annotations

from tests import phone_kit
from tests.phone_kit import PHONES, e164

bot = phone_kit.bot_fixture(phone_kit.SMS_TIER)


async def states(bot, who: str) -> dict[str, str]:
    return dict(await bot.query("SELECT channel, state FROM contact_methods WHERE person=?", who))


async def test_the_code_texted_and_typed_back_verifies_texts_and_calls(bot):
    await bot.say("bob", "phone verify")
    await bot.until(lambda: bot.notify.to(PHONES["bob"]))
    assert "ending 222" in bot.chat_texts("bob")[-1]
    assert await states(bot, "bob") == {"sms": "pending", "voice": "pending"}
    code = bot.notify.to(PHONES["bob"])[-1].body.split("code is ")[1][:6]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await bot.say("bob", wrong)
    assert "not the code" in bot.chat_texts("bob")[-1]
    assert await states(bot, "bob") == {"sms": "pending", "voice": "pending"}
    await bot.say("bob", code)
    assert "verified" in bot.chat_texts("bob")[-1]
    assert await states(bot, "bob") == {"sms": "verified", "voice": "verified"}
    assert (await bot.query("SELECT number FROM contact_methods WHERE person='bob'"))[0][0] == e164(PHONES["bob"])


async def test_a_code_lasts_15_minutes_and_3_are_sent_an_hour(bot):
    await bot.say("bob", "phone verify")
    await bot.until(lambda: bot.notify.to(PHONES["bob"]))
    code = bot.notify.to(PHONES["bob"])[-1].body.split("code is ")[1][:6]
    await bot.clock.advance(16 * 60)
    await bot.say("bob", f"phone verify {code}")
    assert "no code waiting" in bot.chat_texts("bob")[-1]
    assert await states(bot, "bob") == {"sms": "pending", "voice": "pending"}
    await bot.say("bob", "phone verify")
    await bot.say("bob", "phone verify")
    await bot.until(lambda: len(bot.notify.to(PHONES["bob"])) == 3)
    await bot.say("bob", "phone verify")
    assert "3 codes have been sent" in bot.chat_texts("bob")[-1]
    assert len(bot.notify.to(PHONES["bob"])) == 3
    await bot.clock.advance(61 * 60)
    await bot.say("bob", "phone verify")
    await bot.until(lambda: len(bot.notify.to(PHONES["bob"])) == 4)


async def test_only_a_verified_number_is_texted_by_a_phone_rung(bot):
    await bot.say("alice", "Is Mr Brown in today?")
    alert_id = (await bot.query("SELECT MAX(id) FROM alerts"))[0][0]
    assert any("Bob Green has no verified number for a text" in t for t in await bot.timeline(alert_id))
    assert bot.notify.to(PHONES["bob"]) == []
    assert any("Mr Brown" in t or "alert #" in t for t in bot.chat_texts("bob"))  # chat as every tier
    await bot.verify("bob")
    await bot.say("alice", "Has Mr Brown been in?")
    await bot.until(lambda: any("alert #" in s.body for s in bot.notify.to(PHONES["bob"])))
    sms = [s.body for s in bot.notify.to(PHONES["bob"]) if "alert #" in s.body][-1]
    assert sms.endswith("at Central Library. Reply 1 to acknowledge") and "Aggressive" in sms


async def test_a_leavers_numbers_are_forgotten(bot):
    await bot.verify("alice")
    assert (await bot.query("SELECT COUNT(*) FROM contact_methods WHERE person='alice'"))[0][0] == 2
    await bot.say("dana", "person remove alice")
    assert (await bot.query("SELECT COUNT(*) FROM contact_methods WHERE person LIKE 'alice%'"))[0][0] == 0
    assert (await bot.query("SELECT COUNT(*) FROM phone_codes WHERE person LIKE 'alice%'"))[0][0] == 0


async def test_a_code_notify_refuses_is_never_shown_in_chat_instead(bot):
    """The code proves the phone: when Notify refuses the number, chat must not get the text as a fallback."""
    bot.notify.not_mobile.add(e164(PHONES["bob"]))
    await bot.say("bob", "phone verify")
    await bot.until(lambda: bot.notify.refused)
    await bot.settle()
    assert not any("Your saferbot code is" in t for t in bot.chat_texts("bob"))
    assert (await bot.query("SELECT status FROM outbox WHERE platform='sms'"))[0][0] == "failed"


async def test_erasing_a_person_forgets_their_numbers_and_texts(bot):
    from bot.personal_data import Subject

    await bot.verify("bob")
    [owner] = [o for o in bot.engine.app.data_owners if o.name == "phone"]
    bob = Subject("bob", ("Bob Green",), (e164(PHONES["bob"]),))
    found = await bot.engine.store.read(lambda c: owner.about(c, bob))
    assert found[0].rows and found[0].rows[0]["number"] == e164(PHONES["bob"])
    dry = await bot.engine.store.run(lambda c: owner.forget(c, bob, True))
    assert (await bot.query("SELECT COUNT(*) FROM contact_methods WHERE person='bob'"))[0][0] == 2  # dry run
    done = await bot.engine.store.run(lambda c: owner.forget(c, bob, False))
    assert done.changed == dry.changed and any("outbox" in c for c in done.changed)
    for table in ("contact_methods", "phone_codes"):
        assert (await bot.query(f"SELECT COUNT(*) FROM {table} WHERE person='bob'"))[0][0] == 0
    assert (await bot.query("SELECT COUNT(*) FROM outbox WHERE platform='sms'"))[0][0] == 0
