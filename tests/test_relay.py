"""Webhooks that reach a standby (PostgreSQL, two instances behind a load balancer).

The active instance runs the real Telegram (webhook mode) or Slack (HTTP mode) transport
against the fake servers; the standby is bot.relay.StandbyRelay on its own port, on the
same PostgreSQL schema. An event posted to the standby is checked, stored, answered 200,
and then handled by the active instance exactly once, also when the platform's retry of
it reaches the active instance as well.
"""

from __future__ import annotations

import time

import aiohttp

from bot.relay import StandbyRelay
from tests.conftest import make_settings
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, post_signed, sign
from tests.test_intake_confirmed import free_port, until
from tests.test_slack import ALICE as SL_ALICE
from tests.test_slack import BOB as SL_BOB
from tests.test_slack import fake as slack_fake  # noqa: F401  (fixture)
from tests.test_slack import start_bot as start_slack
from tests.test_slack import texts
from tests.test_telegram import ALICE, COVER
from tests.test_telegram import fake as telegram_fake  # noqa: F401  (fixture)
from tests.test_telegram import start_bot as start_telegram

CODEWORD = "Is Mr Brown in today?"
SECRET = "s3cret-token"


def migrated(schema) -> None:
    """The tables an active instance would have made (a standby alone makes none)."""
    from bot.store import migrate, pg

    conn = pg.Connection(schema.url)
    try:
        migrate(conn)
    finally:
        conn.close()


async def test_a_telegram_update_that_reaches_the_standby_is_handled_once_by_the_active(tmp_path, schema,
                                                                                      telegram_fake):  # noqa: F811
    fake = telegram_fake
    active_port, standby_port = free_port(), free_port()
    hook = {"telegram_webhook_secret": SECRET, "telegram_webhook_listen": "127.0.0.1"}
    active = await start_telegram(tmp_path, fake, db=schema.url, telegram_webhook_url=f"http://127.0.0.1:{active_port}/hook",
                                  telegram_webhook_port=active_port, **hook)
    standby = StandbyRelay(make_settings(schema.url, telegram_token=fake.token, telegram_api_url=fake.url,
                                         telegram_webhook_url=f"http://127.0.0.1:{standby_port}/hook",
                                         telegram_webhook_port=standby_port, **hook))
    await standby.start()
    try:
        alice = await active.register("alice", ALICE, "Alice")
        update = {"update_id": 9001, "message": {"message_id": 77, "date": int(time.time()), "from": alice,
                                                 "chat": {"id": ALICE, "type": "private"}, "text": CODEWORD}}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{standby_port}/hook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
                assert r.status == 403  # checked as the active instance would: a forgery is not stored
            assert schema.query("SELECT COUNT(*) FROM relay") == [(0,)]
            async with http.post(f"http://127.0.0.1:{standby_port}/hook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                assert r.status == 200
            await until(lambda: COVER in fake.texts(ALICE), "the cover reply from the active instance")
            # Telegram's retry of the same update reaches the active instance itself: handled once
            async with http.post(f"http://127.0.0.1:{active_port}/hook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as r:
                assert r.status == 200
        await until(lambda: schema.query("SELECT COUNT(*) FROM relay") == [(0,)], "the relay row being taken")
        await active.engine.settle(3)
        assert fake.texts(ALICE).count(COVER) == 1
        assert len(await active.query("SELECT id FROM alerts")) == 1
    finally:
        await standby.stop()
        await active.engine.stop()


async def test_a_slack_event_that_reaches_the_standby_is_handled_once_by_the_active(tmp_path, schema,
                                                                                  slack_fake):  # noqa: F811
    fake = slack_fake
    active = await start_slack(tmp_path, fake, http=True, db=schema.url)
    standby_port = free_port()
    standby = StandbyRelay(make_settings(schema.url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                                         slack_http_listen="127.0.0.1", slack_http_port=standby_port))
    await standby.start()
    url = f"http://127.0.0.1:{standby_port}/slack/events"
    try:
        status, text = await post_signed(url, {"token": "x", "challenge": "c-9", "type": "url_verification"})
        assert status == 200 and "c-9" in text
        body = fake.message_event(SL_ALICE, CODEWORD)
        assert (await post_signed(url, body, secret="not-the-secret"))[0] == 401
        assert schema.query("SELECT COUNT(*) FROM relay") == [(0,)]
        assert (await post_signed(url, body))[0] == 200
        assert (await post_signed(url, body, retry_num=1))[0] == 200  # Slack's retry: stored once
        await until(lambda: texts(fake, SL_ALICE), "the cover reply from the active instance")
        # a submitted form needs its answer from the active instance (errors shown in the form): refused, not
        # stored, so Slack keeps the form open and the person can send it again
        submitted = {"type": "view_submission", "token": "x", "user": {"id": SL_ALICE},
                     "view": {"id": "V123", "callback_id": "saferbot-form:incident", "state": {"values": {}}}}
        assert (await post_signed(url, submitted, kind="interactive"))[0] == 503
        await active.settle()
        assert texts(fake, SL_ALICE) == ["I'll have a look in the staff room for you."]
        assert "Aggressive or threatening person" in active.card(SL_BOB).shown
        assert schema.query("SELECT COUNT(*) FROM relay") == [(0,)]
    finally:
        await standby.stop()
        await active.engine.stop()


async def test_the_standby_refuses_what_slack_bolt_cannot_parse(tmp_path, schema):
    """A correctly signed body that is not a Slack request (payload=%7B) gets 400 and is never stored."""
    from urllib.parse import urlencode

    migrated(schema)
    standby_port = free_port()
    standby = StandbyRelay(make_settings(schema.url, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                                         slack_http_port=standby_port))
    await standby.start()
    try:
        url = f"http://127.0.0.1:{standby_port}/slack/events"
        for body in ("payload=%7B", "payload=%5B1%5D", "{not json", "[1, 2]"):
            headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
            async with aiohttp.ClientSession() as http, http.post(url, data=body.encode(), headers=headers) as r:
                assert r.status == 400, body
        assert urlencode({"payload": "{"}) == "payload=%7B"
        assert schema.query("SELECT COUNT(*) FROM relay") == [(0,)]
    finally:
        await standby.stop()


async def test_the_standby_answers_400_for_an_update_id_that_is_not_a_number(tmp_path, schema):
    migrated(schema)
    standby_port = free_port()
    standby = StandbyRelay(make_settings(schema.url, telegram_token="1:x", telegram_webhook_secret=SECRET,
                                         telegram_webhook_url=f"http://127.0.0.1:{standby_port}/hook",
                                         telegram_webhook_port=standby_port))
    await standby.start()
    try:
        for raw in ('{"update_id": Infinity}', '{"update_id": 1e400}', '{"update_id": NaN}', '{"update_id": 1.5}',
                    '{"update_id": true}', '[]'):
            async with aiohttp.ClientSession() as http, http.post(
                    f"http://127.0.0.1:{standby_port}/hook", data=raw.encode(),
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}) as r:
                assert r.status == 400, raw
        assert schema.query("SELECT COUNT(*) FROM relay") == [(0,)]
    finally:
        await standby.stop()


async def test_a_relayed_slack_request_older_than_slack_signature_window_is_still_handled(tmp_path, schema,
                                                                                        slack_fake):  # noqa: F811
    """The signature was checked once, by the standby, when it came: the hand-off does not check it again."""
    import json as _json

    from bot import relay

    fake = slack_fake
    active = await start_slack(tmp_path, fake, http=True, db=schema.url)
    try:
        body = _json.dumps(fake.message_event(SL_ALICE, CODEWORD))
        old = int(time.time()) - 600  # ten minutes: bolt refuses a signature this old
        headers = {k.lower(): v for k, v in sign(body, timestamp=old).items()} | {"content-type": "application/json"}
        await active.engine.store.run(relay.put, relay.slack_key(body), "slack", body, headers, time.time())
        await until(lambda: texts(fake, SL_ALICE), "the cover reply from the active instance")
        await until(lambda: schema.query("SELECT COUNT(*) FROM relay") == [(0,)], "the relay row being taken")
    finally:
        await active.engine.stop()


async def test_a_relayed_row_that_keeps_failing_is_set_aside_and_the_rows_behind_it_are_handled(
        tmp_path, schema, telegram_fake, capsys):  # noqa: F811
    from bot import relay
    from bot.commands.status import cmd_status

    fake = telegram_fake
    port = free_port()
    active = await start_telegram(tmp_path, fake, db=schema.url, telegram_webhook_url=f"http://127.0.0.1:{port}/hook",
                                  telegram_webhook_port=port, telegram_webhook_secret=SECRET)
    try:
        alice = await active.register("alice", ALICE, "Alice")
        await active.register("dana", 1099, "Dana")  # an admin
        real = active.transport._on_update

        async def on_update(update):
            if update.update_id == 9001:
                raise RuntimeError("a bug in handling this one update")
            return await real(update)

        active.transport._on_update = on_update

        def update(uid: int) -> str:
            import json as _json

            return _json.dumps({"update_id": uid, "message": {"message_id": uid, "date": int(time.time()),
                                "from": alice, "chat": {"id": ALICE, "type": "private"}, "text": CODEWORD}})

        now = time.time()
        await active.engine.store.run(relay.put, "telegram:9001", "telegram", update(9001), {}, now)
        await active.engine.store.run(relay.put, "telegram:9002", "telegram", update(9002), {}, now)
        await until(lambda: COVER in fake.texts(ALICE), "the row behind the failing one handled")
        await until(lambda: schema.query("SELECT COUNT(*) FROM relay WHERE aside_at IS NOT NULL") == [(1,)],
                    "the failing row set aside")
        assert schema.query("SELECT key FROM relay") == [("telegram:9001",)]  # kept, not deleted
        await active.engine.settle(3)
        told = await active.query("SELECT text FROM outbox WHERE tag='relay'")
        assert told and "set aside" in told[0][0]
        capsys.readouterr()
        assert cmd_status(None, make_settings(schema.url)) == 0
        assert "1 relayed request(s) set aside" in capsys.readouterr().out
    finally:
        await active.engine.stop()
