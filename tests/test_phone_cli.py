"""`saferbot phone test <person>`: a text and a call to the person's verified number now (no alert), through
the real clients against the fakes; an unverified number is refused with what to do. Both stores."""

from __future__ import annotations

from bot.commands import phone as phone_cli
from tests import phone_kit


async def test_phone_test_texts_and_rings_a_verified_number_and_refuses_an_unverified_one(tmp_path, db):
    bot = await phone_kit.start(tmp_path, db, [{"notify": ["duty-manager"], "wait": "2m"}])
    try:
        people = bot.engine.directory.people
        lines, code = await phone_cli.test(bot.engine.settings, people["bob"])
        assert code == 2 and "Bob Green's number is not verified; they send phone verify in chat" in lines[0]
        assert bot.notify.sent == [] and bot.twilio.calls == []

        await bot.verified_before("bob")
        lines, code = await phone_cli.test(bot.engine.settings, people["bob"])
        assert code == 0, lines
        bob = phone_kit.e164(bot.phones["bob"])
        assert [s.body for s in bot.notify.to(bob)] == [phone_cli.SMS]
        await bot.until(lambda: bot.twilio.to(bob) and bot.twilio.to(bob)[0].done)
        call = bot.twilio.to(bob)[0]
        assert call.said[0] == "This is a saferbot test call. Alarm calls will sound like this."
        assert "pressing 1 works" in call.digits_answer
        assert await bot.query("SELECT * FROM alerts") == []
    finally:
        await bot.stop()


def test_run_starts_the_phone_platforms_and_serves_their_callbacks_only_when_configured(tmp_path):
    """What `saferbot run` builds: the phone transports beside the console, and the callback routes on the
    health port (App.http_routes), only with a provider configured."""
    from types import SimpleNamespace

    from bot.compose import _phone_routes, build_app
    from bot.transports import build
    from tests.conftest import make_settings
    from tests.fakes import notify, twilio

    plain = make_settings(tmp_path / "a.db", console=False)
    assert [t.platform for t in build(plain)] == ["console"]
    assert _phone_routes in build_app().http_routes
    assert _phone_routes(SimpleNamespace(settings=plain)) == []
    phoned = make_settings(tmp_path / "a.db", console=False, notify_api_key=notify.API_KEY,
                           notify_sms_template=notify.TEMPLATE, notify_callback_token=notify.CALLBACK_TOKEN,
                           twilio_account_sid=twilio.ACCOUNT_SID, twilio_auth_token=twilio.AUTH_TOKEN,
                           twilio_from=twilio.FROM, phone_public_url="https://saferbot.example.gov.uk")
    assert [t.platform for t in build(phoned)] == ["sms", "voice", "console"]
    paths = {r.path for r in _phone_routes(SimpleNamespace(settings=phoned))}
    assert paths == {"/phone/notify/receipt", "/phone/notify/inbound", "/phone/twilio/voice", "/phone/twilio/gather",
                     "/phone/twilio/status"}


def test_phone_settings_are_checked_with_what_is_accepted():
    import pytest

    from bot.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as e:
        load_settings(twilio_from="01632 960000", notify_sms_template="abc", twilio_account_sid="AC12",
                      notify_api_key="not-a-key", _env_file=None)
    text = str(e.value)
    assert "SAFERBOT_TWILIO_FROM='01632 960000' is not usable; accepted: a phone number in international form" in text
    assert "SAFERBOT_NOTIFY_SMS_TEMPLATE='abc' is not usable; accepted: the template's id from GOV.UK Notify" in text
    assert "SAFERBOT_TWILIO_ACCOUNT_SID='AC12' is not usable; accepted: the Account SID" in text
    assert "SAFERBOT_NOTIFY_API_KEY=(hidden, 9 characters)" in text and "not-a-key" not in text  # a key is never shown
