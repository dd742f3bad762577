"""Telegram and Slack in one process: an alert raised on Telegram, acknowledged on Slack.

Both real transports run against their fakes on 127.0.0.1 (python-telegram-bot long
polling the fake Bot API; slack-bolt in Socket Mode on the fake Slack). One engine, one
SQLite file: every copy of the alert card, on either platform, shows who acknowledged.
"""

from __future__ import annotations

from bot.book import load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from bot.transports.base import Limits
from bot.transports.slack import SlackTransport
from bot.transports.telegram import TelegramTransport
from tests.conftest import make_settings
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.test_slack import RunningClock

ALICE_TG, DANA_TG = 1001, 1004
BOB_SLACK = "U0BOB"
COVER = "I'll have a look in the staff room for you."
ACK_REPLY = "Mr Brown has just come in, he'll be with you in a minute."
FAST = Limits(per_second=None, per_chat_interval=0.02)


async def test_raised_on_telegram_acked_on_slack_updates_the_telegram_copies(tmp_path, db):
    tg, slack_fake = FakeTelegram(), FakeSlack(users={BOB_SLACK})
    await tg.start()
    await slack_fake.start()
    s = make_settings(db, telegram_token=tg.token, telegram_api_url=tg.url,
                      slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN, slack_api_url=slack_fake.api_url)
    service = load_service(s.service_file)
    accounts = {"alice": {"telegram": ALICE_TG}, "dana": {"telegram": DANA_TG},
                "bob": {"slack": BOB_SLACK, "prefer": "slack"}}  # Bob, the duty manager, lives in Slack
    people = {k: p.model_copy(update=accounts.get(k, {})) for k, p in service.people.items()}
    service = service.model_copy(update={"people": people})
    telegram = TelegramTransport(s, poll_timeout=1, request_timeout=2)
    telegram.limits = FAST
    slack = SlackTransport(s, limits=FAST)
    clock = RunningClock()
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[telegram, slack])
    await engine.start()
    try:
        await slack_fake.wait_for(lambda: slack_fake.connected.is_set(), 5, "Slack Socket Mode")
        alice, dana = tg.user(ALICE_TG, "Alice"), tg.user(DANA_TG, "Dana")
        tg.say(dana, "help")  # Dana has talked to the bot before, so it may write to her
        await tg.wait_for(lambda: tg.texts(DANA_TG))

        tg.say(alice, "Is Mr Brown in today?")
        await tg.wait_for(lambda: COVER in tg.texts(ALICE_TG))
        bob_card = await slack_fake.wait_for(lambda: [m for m in slack_fake.seen(BOB_SLACK) if m.buttons], 5,
                                             "Bob's card on Slack")
        assert "Aggressive" in bob_card[0].shown and "Alice Smith" in bob_card[0].shown

        await clock.advance(121)  # no ack yet: the ladder climbs to Dana, on Telegram
        dana_card = await tg.wait_for(lambda: [m for m in tg.inbox(DANA_TG) if "Aggressive" in m.text])
        assert "Acknowledge" in dana_card[-1].labels

        await slack_fake.acked(await slack_fake.press(BOB_SLACK, "Acknowledge"))
        await tg.wait_for(lambda: "Acknowledged by Bob Green" in
                          [m for m in tg.inbox(DANA_TG) if "Aggressive" in m.text][-1].text)
        assert "Acknowledge" not in [m for m in tg.inbox(DANA_TG) if "Aggressive" in m.text][-1].labels
        await tg.wait_for(lambda: ACK_REPLY in tg.texts(ALICE_TG))
        await slack_fake.wait_for(lambda: "Acknowledged by Bob Green" in slack_fake.seen(BOB_SLACK)[-1].shown, 5,
                                  "Bob's own copy updated")
        assert tg.calls_of("editMessageText"), "the Telegram copy was edited, not re-sent"
    finally:
        await engine.stop()
        await slack_fake.stop()
        await tg.stop()
