"""Logs never hold secrets: at DEBUG, with the real Telegram library against the fake Bot API,
the bot token, invite codes and message text stay out of the log (text only when asked for)."""

from __future__ import annotations

import io
import logging

import pytest

from bot import logs
from tests.conftest import make_settings
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram import ALICE, start_bot

TOKEN = "7123456789:AAHk3Zq-secretSecretSecret_0123456789"
SECRET_TEXT = "Zqmy private words about Mr Brown"


@pytest.fixture
async def fake():
    f = FakeTelegram(token=TOKEN)
    await f.start()
    yield f
    await f.stop()


async def _chat(tmp_path, fake, stream: io.StringIO, **extra) -> str:
    settings = make_settings(tmp_path / "saferbot.db", telegram_token=TOKEN, log_level="DEBUG", **extra)
    logs.setup(settings, stream=stream)
    try:
        bot = await start_bot(tmp_path, fake)
        try:
            user = fake.user(ALICE, "Alice")
            code = await bot.invite("alice")
            fake.say(user, f"/start {code}")
            await fake.wait_for(lambda: any(t.startswith("Welcome") for t in fake.texts(ALICE)))
            fake.say(user, SECRET_TEXT)
            await fake.wait_for(lambda: len(fake.texts(ALICE)) >= 2)
            logging.getLogger("saferbot.test").debug("invite link https://t.me/Bot?start=%s token %s", code, TOKEN)
        finally:
            await bot.engine.stop()
    finally:
        logs.reset()
    return code


async def test_debug_logs_hold_no_token_invite_code_or_message_text(tmp_path, fake):
    stream = io.StringIO()
    code = await _chat(tmp_path, fake, stream)
    text = stream.getvalue()
    assert "DEBUG" in text and "telegram" in text  # it really logged at DEBUG, libraries included
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert code not in text
    assert "Zqmy private" not in text


async def test_message_text_only_when_switched_on(tmp_path, fake):
    stream = io.StringIO()
    code = await _chat(tmp_path, fake, stream, log_messages=True)
    text = stream.getvalue()
    assert "Zqmy private" in text  # the operator asked for it
    assert TOKEN.split(":")[1] not in text and code not in text  # secrets still never


def test_redactor_covers_slack_tokens_signing_secrets_and_headers():
    r = logs.Redactor(["8f2c1e9d7a6b5c4d3e2f1a0b"], messages=False)
    line = ("POST https://slack.com/api/chat.postMessage Authorization: Bearer xoxb-1234567890-abcdefghij "
            "xapp-1-A0B1C2D3-abcdef secret=8f2c1e9d7a6b5c4d3e2f1a0b {'text': 'help me now'}")
    out = r(line)
    assert "xoxb-1234567890" not in out and "xapp-1-A0B1C2D3" not in out and "8f2c1e9d7a6b" not in out
    assert "help me now" not in out
