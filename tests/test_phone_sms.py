"""The phone rung by text (GOV.UK Notify): a tier with `sms: true` reaches its people in chat and by text and
waits like any tier; `1` / `ACK <n>` acknowledge; receipts go on the timeline; a permanent failure turns
texts off, tells the admins and climbs at once. Real engine, real Notify client, fake Notify, both stores."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests import phone_kit
from tests.conftest import ROOT
from tests.phone_kit import PHONES, SMS_TIER

MR_BROWN = "Is Mr Brown in today?"


bot = phone_kit.bot_fixture(phone_kit.SMS_TIER)


async def newest_alert(bot) -> int:
    return (await bot.query("SELECT MAX(id) FROM alerts"))[0][0]


async def status_of(bot, alert_id: int) -> tuple:
    return tuple((await bot.query("SELECT status, tier FROM alerts WHERE id=?", alert_id))[0])


def alerts_texted(bot, who: str) -> list[str]:
    return [s.body for s in bot.notify.to(bot.phones[who]) if s.body.startswith("saferbot alert #")]


async def test_a_sms_tier_texts_and_chats_and_waits_like_any_tier(bot):
    await bot.verify("bob")
    await bot.say("alice", MR_BROWN)
    alert_id = await newest_alert(bot)
    await bot.until(lambda: alerts_texted(bot, "bob"))
    assert alerts_texted(bot, "bob") == [f"saferbot alert #{alert_id}: Aggressive or threatening person - colleague "
                                         "needed now at Central Library. Reply 1 to acknowledge"]
    assert any(f"alert #{alert_id}" in t for t in bot.chat_texts("bob"))  # in chat as well
    await bot.until(lambda: bot.on_timeline(alert_id, "text delivered to Bob Green's phone"))
    assert await status_of(bot, alert_id) == ("open", 0)  # it waits its 2 minutes like any tier
    await bot.clock.advance(125)
    await bot.settle()
    assert await status_of(bot, alert_id) == ("open", 1)


async def test_reply_1_acknowledges_the_alert_texted_and_two_open_ask_which(bot):
    await bot.verify("bob")
    await bot.say("alice", MR_BROWN)
    first = await newest_alert(bot)
    await bot.until(lambda: len(alerts_texted(bot, "bob")) == 1)
    assert await bot.notify.text_in(PHONES["bob"], " 1 ") == 204
    await bot.until(lambda: any("acknowledged" in s.body for s in bot.notify.to(PHONES["bob"])))
    assert await status_of(bot, first) == ("acked", 0)
    assert await bot.on_timeline(first, "acknowledged by Bob Green")
    assert f"alert #{first} acknowledged" in bot.notify.to(PHONES["bob"])[-1].body

    await bot.say("alice", MR_BROWN)
    await bot.say("erin", "Has Mr Brown been in?")  # erin is at Riverside: fran is on duty there, bob not
    await bot.say("alice", "Has Mr Brown been in?")
    second, third = [r[0] for r in await bot.query("SELECT id FROM alerts WHERE person='alice' AND id>? ORDER BY id",
                                                   first)]
    await bot.until(lambda: len(alerts_texted(bot, "bob")) == 3)
    await bot.notify.text_in(PHONES["bob"], "1")
    await bot.until(lambda: "alerts are open" in bot.notify.to(PHONES["bob"])[-1].body)
    assert f"ACK {third} or ACK {second}" in bot.notify.to(PHONES["bob"])[-1].body
    assert [await status_of(bot, a) for a in (second, third)] == [("open", 0), ("open", 0)]
    await bot.notify.text_in(PHONES["bob"], f"ack {second}")
    await bot.until(lambda: f"alert #{second} acknowledged" in bot.notify.to(PHONES["bob"])[-1].body)
    assert [await status_of(bot, a) for a in (second, third)] == [("acked", 0), ("open", 0)]


@pytest.mark.parametrize("number,failure,texts_after", [("07700900002", "permanent failure", "disabled"),
                                                          ("07700900003", "temporary failure", "verified")])
async def test_a_text_that_cannot_arrive_climbs_at_once(tmp_path, db, number, failure, texts_after):
    """Notify's test numbers: a permanent failure also turns texts off and tells the admins; a temporary one
    (phone off, no signal) keeps texts on."""
    bot = await phone_kit.start(tmp_path, db, SMS_TIER, phones={"bob": number})
    try:
        await bot.verified_before("bob")
        await bot.say("alice", MR_BROWN)
        alert_id = await newest_alert(bot)
        await bot.until(lambda: bot.on_timeline(alert_id, f"text to Bob Green's phone: {failure}"))
        assert await status_of(bot, alert_id) == ("open", 1)  # at once, not after the tier's 2 minutes
        assert await bot.on_timeline(alert_id, f"the text to Bob Green cannot arrive ({failure}")
        assert await bot.on_timeline(alert_id, "climbing to tier 2 at once")
        assert dict(await bot.query("SELECT channel, state FROM contact_methods WHERE person='bob'")) == \
            {"sms": texts_after, "voice": "verified"}
        told = any("failed permanently" in t and f"ending {number[-3:]}" in t for t in bot.chat_texts("dana"))
        assert told == (texts_after == "disabled")  # the admin hears of a permanent failure only
        if texts_after == "disabled":
            await bot.say("alice", "Has Mr Brown been in?")  # the next alert texts him no more
            second = await newest_alert(bot)
            assert await bot.on_timeline(second, "Bob Green has no verified number for a text")
            assert len(alerts_texted(bot, "bob")) == 1
    finally:
        await bot.stop()


async def test_notify_down_or_rate_limiting_is_retried_and_the_text_still_goes(bot):
    await bot.verify("bob")
    bot.notify.down(2)
    bot.notify.rate_limit(1)
    await bot.say("alice", MR_BROWN)
    alert_id = await newest_alert(bot)
    await bot.until(lambda: alerts_texted(bot, "bob"), timeout=60)
    assert [status for status, _ in bot.notify.refused] == [429, 500, 500]
    assert len(alerts_texted(bot, "bob")) == 1  # once, however many tries
    assert await status_of(bot, alert_id) == ("open", 0)


async def test_a_text_whose_answer_timed_out_is_sent_again_marked_as_a_possible_repeat(bot):
    await bot.verify("bob")
    for t in bot.engine.transports.values():
        if t.platform == "sms":
            t.client.timeout = 0.5
    bot.notify.slow = [2.0]
    await bot.say("alice", MR_BROWN)
    await bot.until(lambda: len(alerts_texted(bot, "bob")) + len([s for s in bot.notify.to(bot.phones["bob"])
                                                                  if s.body.startswith("(may be a repeat)")]) == 2)
    first, again = [s.body for s in bot.notify.to(bot.phones["bob"])][-2:]
    assert first.startswith("saferbot alert #") and again == "(may be a repeat) " + first


async def test_forged_notify_callbacks_are_refused_and_change_nothing(bot):
    await bot.verify("bob")
    await bot.say("alice", MR_BROWN)
    alert_id = await newest_alert(bot)
    await bot.until(lambda: alerts_texted(bot, "bob"))
    bot.notify.token = "not-the-token"
    assert await bot.notify.text_in(PHONES["bob"], "1") == 401
    assert await status_of(bot, alert_id) == ("open", 0)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**clean, **env}, timeout=60, stdin=subprocess.DEVNULL)


def test_check_config_names_a_phone_rung_without_a_provider_and_the_fix(tmp_path):
    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    book["ladders"]["urgent"]["tiers"][1]["call"] = True
    book["ladders"]["critical"]["tiers"][0]["sms"] = True
    (tmp_path / "codewords.yaml").write_text(yaml.safe_dump(book))
    env = {"SAFERBOT_CODEWORDS_FILE": str(tmp_path / "codewords.yaml"), "SAFERBOT_DB": str(tmp_path / "x.db")}
    bad = run_cli("check-config", env=env)
    assert bad.returncode == 2
    assert ("ladder 'critical' tier 1" in bad.stderr and "says sms: true but SAFERBOT_NOTIFY_API_KEY, "
            "SAFERBOT_NOTIFY_SMS_TEMPLATE are not set; fix: set them (docs/phone.md) or remove sms: true" in bad.stderr)
    assert "ladder 'urgent' tier 2" in bad.stderr and "SAFERBOT_TWILIO_ACCOUNT_SID" in bad.stderr
    from tests.fakes import notify, twilio

    good = run_cli("check-config", env={**env, "SAFERBOT_NOTIFY_API_KEY": notify.API_KEY,
                                        "SAFERBOT_NOTIFY_SMS_TEMPLATE": notify.TEMPLATE,
                                        "SAFERBOT_TWILIO_ACCOUNT_SID": twilio.ACCOUNT_SID,
                                        "SAFERBOT_TWILIO_AUTH_TOKEN": twilio.AUTH_TOKEN,
                                        "SAFERBOT_TWILIO_FROM": twilio.FROM,
                                        "SAFERBOT_PHONE_PUBLIC_URL": "https://saferbot.example.gov.uk",
                                        "SAFERBOT_HEALTH_PORT": "8080"})
    assert good.returncode == 0, good.stderr
