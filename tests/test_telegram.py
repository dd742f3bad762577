"""The Telegram transport end to end: the real python-telegram-bot Application, the real
engine and SQLite store, against the fake Bot API server in tests/fakes (127.0.0.1, port 0)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.book import load_book, load_service
from bot.clock import Clock
from bot.compose import build_app
from bot.engine import Engine
from bot.messages import Button, Delivery, Outbound
from bot.model import Priority
from bot.router import NEUTRAL
from bot.serve import explain
from bot.transports.base import Limits, RetryAfter, Undeliverable
from bot.transports.memory import MemoryTransport
from bot.transports.telegram import TelegramTransport, chunks, escape
from handlers.registration import create_invite
from tests.conftest import AFTERNOON, make_settings
from tests.fakes.telegram_api import FakeTelegram, render_html

ALICE, BOB, CAROL, DANA, VIC = 1001, 1002, 1003, 1004, 1005
COVER = "I'll have a look in the staff room for you."
ACK_REPLY = "Mr Brown has just come in, he'll be with you in a minute."


class RunningClock(Clock):
    """Real time, but starting on a Wednesday afternoon (so the rota and the times shown are fixed)."""

    def __init__(self, start: float = AFTERNOON, timezone: str = "Europe/London"):
        super().__init__(timezone)
        self.offset = start - time.time()

    def now(self) -> float:
        return time.time() + self.offset


@dataclass
class Bot:
    fake: FakeTelegram
    engine: Engine
    transport: TelegramTransport
    users: dict[str, dict]

    async def invite(self, key: str, valid_for: int = 3600) -> str:
        def make(conn):
            return create_invite(conn, key, created_by="dana", now=self.engine.clock.now(), valid_for=valid_for)[0]

        return await self.engine.store.run(make)

    async def register(self, key: str, user_id: int, first: str) -> dict:
        user = self.fake.user(user_id, first)
        self.users[key] = user
        code = await self.invite(key)
        self.fake.say(user, f"/start {code}")
        await self.fake.wait_for(lambda: any(t.startswith("Welcome") for t in self.fake.texts(user_id)))
        return user

    async def query(self, sql: str, *args):
        return await self.engine.store.read(lambda c: [tuple(r) for r in c.execute(sql, args).fetchall()])


async def start_bot(tmp_path: Path, fake: FakeTelegram, *, extra: list | None = None, db: Path | str | None = None,
                    **settings) -> Bot:
    s = make_settings(db or tmp_path / "saferbot.db", telegram_token=fake.token, telegram_api_url=fake.url, **settings)
    service = load_service(s.service_file)
    transport = TelegramTransport(s, poll_timeout=1, request_timeout=2)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=RunningClock(),
                    transports=[transport, *(extra or [])])
    await engine.start()
    return Bot(fake, engine, transport, {})


@pytest.fixture
async def fake():
    f = FakeTelegram()
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def bot(tmp_path, fake, db):  # db: every test with this fixture runs on SQLite and PostgreSQL
    b = await start_bot(tmp_path, fake, db=db)
    yield b
    await b.engine.stop()


async def on_shift(bot: Bot, key: str) -> None:
    now = bot.engine.clock.now()
    await bot.engine.store.run(lambda c: c.execute(
        "INSERT INTO shifts(person, on_shift, since) VALUES(?,1,?)"
        " ON CONFLICT(person) DO UPDATE SET on_shift=1, since=excluded.since", (key, now)))


def only(items: list):
    assert len(items) == 1, items
    return items[0]


# --- registration by deep link ------------------------------------------------------------------

async def test_polling_start_learns_username_and_stores_it(bot, fake):
    assert bot.transport.mode == "polling"
    assert fake.calls_of("deleteWebhook"), "polling must clear any webhook first"
    await fake.wait_for(lambda: fake.calls_of("getUpdates"))
    assert await bot.query("SELECT value FROM platform_info WHERE key='telegram.username'") == [("LibrarySaferBot",)]


async def test_deep_link_binds_person_welcomes_and_sets_menu(bot, fake):
    alice = fake.user(ALICE, "Alice")
    code = await bot.invite("alice")
    fake.say(alice, f"/start {code}")
    welcome = await fake.wait_for(lambda: [t for t in fake.texts(ALICE) if t.startswith("Welcome")])
    assert "Alice Smith" in welcome[0] and "Central Library" in welcome[0]
    assert await bot.query("SELECT person, platform, user_id FROM bindings") == [("alice", "telegram", str(ALICE))]
    # the command menu is what a member of staff may use: help yes, invite (admins) no
    menu = await fake.wait_for(lambda: fake.menu(ALICE))
    assert "help" in menu and "invite" not in menu and "alerts" not in menu
    # and from now on Alice is Alice: a codeword raises an alert
    fake.say(alice, "Is Mr Brown in today?")
    await fake.wait_for(lambda: COVER in fake.texts(ALICE))
    assert len(await bot.query("SELECT id FROM alerts")) == 1


async def test_reused_expired_and_unknown_codes_get_the_neutral_reply(bot, fake):
    await bot.register("alice", ALICE, "Alice")
    assert only(await bot.query("SELECT person FROM invites WHERE status='used'")) == ("alice",)
    mallory = fake.user(6661, "Mallory")
    code = await bot.invite("carol")
    fake.say(fake.user(CAROL, "Carol"), f"/start {code}")
    await fake.wait_for(lambda: fake.texts(CAROL))
    strangers = {6661: f"/start {code}",  # reused: Mallory found Carol's link
                 6662: f"/start {await bot.invite('vic', valid_for=-1)}",  # expired
                 6663: "/start not-a-real-code",  # unknown
                 6664: "/start",  # no code at all
                 6665: "Is Mr Brown in today?"}  # a codeword from a stranger
    for uid, text in strangers.items():
        fake.say(fake.user(uid, "Stranger") if uid != 6661 else mallory, text)
    await fake.wait_for(lambda: all(fake.texts(uid) for uid in strangers))
    for uid in strangers:
        assert fake.texts(uid) == [NEUTRAL]
    assert fake.texts(CAROL)[0].startswith("Welcome, Carol Jones")
    # nobody was bound to Mallory, nothing was raised, nobody else heard anything
    assert await bot.query("SELECT user_id FROM bindings WHERE user_id LIKE '666%'") == []
    assert await bot.query("SELECT id FROM alerts") == []
    assert all(fake.menu(uid) == [] for uid in strangers)
    # the expired code cannot be used by the person it was for either
    vic = fake.user(VIC, "Vic")
    fake.say(vic, strangers[6662])
    await fake.wait_for(lambda: fake.texts(VIC))
    assert fake.texts(VIC) == [NEUTRAL]


async def test_admin_invites_in_chat_and_hears_when_they_register(bot, fake):
    dana = await bot.register("dana", DANA, "Dana")
    assert "invite" in await fake.wait_for(lambda: fake.menu(DANA))
    fake.say(dana, "invite Bob Green")
    reply = await fake.wait_for(lambda: [t for t in fake.texts(DANA) if t.startswith("Registration link")])
    link = re.search(r"https://t\.me/LibrarySaferBot\?start=([A-Za-z0-9_-]+)", reply[0])
    assert link, reply[0]
    bob = fake.user(BOB, "Bob")
    fake.say(bob, f"/start {link.group(1)}")
    await fake.wait_for(lambda: "Bob Green has registered on Telegram." in fake.texts(DANA))
    assert fake.texts(BOB)[0].startswith("Welcome, Bob Green")
    # a member of staff may not make invites
    fake.say(bob, "invite carol")
    await fake.wait_for(lambda: len(fake.texts(BOB)) == 2)
    assert "not something your role can do" in fake.texts(BOB)[1]


async def test_invite_from_the_command_line_prints_a_working_link(bot, fake, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("SAFERBOT_DB", bot.engine.settings.db)  # the running bot's own store
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(Path(__file__).parent.parent / "config/service.example.yaml"))
    assert await asyncio.to_thread(main, ["invite", "erin"]) == 0
    out = capsys.readouterr().out
    code = re.search(r"https://t\.me/LibrarySaferBot\?start=([A-Za-z0-9_-]+)", out).group(1)
    assert "Erin Shah" in out and "works once" in out
    erin = fake.user(2001, "Erin")
    fake.say(erin, f"/start {code}")
    welcome = await fake.wait_for(lambda: fake.texts(2001))
    assert welcome[0].startswith("Welcome, Erin Shah") and "Riverside" in welcome[0]
    assert await asyncio.to_thread(main, ["invite", "nobody-here"]) == 2


async def test_groups_answer_commands_refuse_invites_and_ignore_strangers(bot, fake):
    dana = await bot.register("dana", DANA, "Dana")
    bob = await bot.register("bob", BOB, "Bob")
    staff_room, office = fake.group(-100501, "Staff room"), fake.group(-100502, "Office")
    fake.say(dana, "/invite@LibrarySaferBot alice", chat=office)
    fake.say(bob, "/help@LibrarySaferBot", chat=staff_room)
    fake.say(fake.user(6670, "Passer-by"), "hello bot", chat=staff_room)
    await fake.wait_for(lambda: fake.texts(-100501) and fake.texts(-100502))
    assert "private chat" in only(fake.texts(-100502)) and "t.me" not in fake.texts(-100502)[0]
    assert only(fake.texts(-100501)).startswith("Hello Bob Green. You can send:")
    await asyncio.sleep(0.2)
    assert len(fake.texts(-100501)) == 1, "a stranger in a group gets no reply at all"
    # a known person tapping an invite link again just gets help, and stays who they are
    fake.say(bob, "/start SOMECODE")
    await fake.wait_for(lambda: any(t.startswith("Hello Bob Green") for t in fake.texts(BOB)))
    assert await bot.query("SELECT person FROM bindings WHERE user_id=?", str(BOB)) == [("bob",)]


async def test_a_stranger_pressing_a_button_gets_an_answer_and_the_neutral_reply(bot, fake):
    alice = await bot.register("alice", ALICE, "Alice")
    await bot.register("bob", BOB, "Bob")
    fake.say(alice, "Is Mr Brown in today?")
    card = (await fake.wait_for(lambda: [m for m in fake.inbox(BOB) if m.buttons]))[0]
    # someone else got hold of the message (forwarded keyboards still carry the data)
    fake.chats[6680] = {"id": 6680, "type": "private"}
    stranger = fake.user(6680, "Stranger")
    card_copy = type(card)(**{**card.__dict__, "chat_id": 6680})
    qid = fake.press(stranger, card_copy, "Acknowledge")
    await fake.wait_for(lambda: fake.callbacks[qid]["answered_at"] and fake.texts(6680))
    assert fake.texts(6680) == [NEUTRAL]
    assert await bot.query("SELECT status FROM alerts") == [("open",)]


# --- alerts: codeword, inline keyboard, callback, edits ---------------------------------------------

async def test_codeword_keyboard_ack_by_callback_edits_every_copy(bot, fake):
    alice = await bot.register("alice", ALICE, "Alice")
    bob = await bot.register("bob", BOB, "Bob")
    await bot.register("carol", CAROL, "Carol")
    await on_shift(bot, "carol")

    fake.say(alice, "Is Mr Brown in today?")
    card_bob = await fake.wait_for(lambda: [m for m in fake.inbox(BOB) if m.buttons])
    card_carol = await fake.wait_for(lambda: [m for m in fake.inbox(CAROL) if m.buttons])
    assert fake.texts(ALICE)[-1] == COVER and not fake.inbox(ALICE)[-1].buttons  # the sender sees only the cover
    for card in (card_bob[0], card_carol[0]):
        assert card.text.startswith("[HIGH] Aggressive or threatening person")
        assert "From: Alice Smith" in card.text
        assert card.labels == ["Acknowledge", "Resolve", "Call police?"]

    qid = fake.press(bob, card_bob[0], "Acknowledge")
    await fake.wait_for(lambda: fake.callbacks[qid]["answered_at"])
    assert fake.callbacks[qid]["answered_at"] - fake.callbacks[qid]["at"] < 0.5, "the spinner must stop at once"

    def all_acked():
        return all("Acknowledged by Bob Green at 14:30" in m.text for m in (card_bob[0], card_carol[0]))

    await fake.wait_for(all_acked)
    for card in (card_bob[0], card_carol[0]):
        assert card.edits, "the copy was edited in place"
        assert card.labels == ["Resolve", "Call police?"]
    await fake.wait_for(lambda: ACK_REPLY in fake.texts(ALICE))
    assert (await bot.query("SELECT status, acked_by FROM alerts")) == [("acked", "bob")]

    # Carol resolves from her copy: both copies show it, the keyboard goes away
    fake.press(bot.users["carol"], card_carol[0], "Resolve")
    await fake.wait_for(lambda: all("Resolved by Carol Jones" in m.text for m in (card_bob[0], card_carol[0])))
    assert card_bob[0].buttons == [] and card_carol[0].buttons == []


async def test_429_storm_during_an_alert_delivers_everything_once(bot, fake):
    alice = await bot.register("alice", ALICE, "Alice")
    await bot.register("bob", BOB, "Bob")
    await bot.register("carol", CAROL, "Carol")
    await on_shift(bot, "carol")
    fake.fail("sendMessage", 429, times=3, retry_after=1)
    fake.fail("sendMessage", 500, times=1)
    started = time.monotonic()
    fake.say(alice, "Is Mr Brown in today?")
    await fake.wait_for(lambda: COVER in fake.texts(ALICE) and [m for m in fake.inbox(BOB) if m.buttons]
                        and [m for m in fake.inbox(CAROL) if m.buttons], timeout=8)
    assert time.monotonic() - started >= 1.0, "retry_after was respected"
    assert [s.status for s in fake.calls_of("sendMessage")].count(429) == 3
    assert fake.texts(ALICE).count(COVER) == 1
    assert sum(1 for m in fake.inbox(BOB) if m.buttons) == 1
    assert sum(1 for m in fake.inbox(CAROL) if m.buttons) == 1
    for _ in range(100):  # the outbox writes results back in batches
        if await bot.query("SELECT status FROM outbox WHERE status!='sent'") == []:
            break
        await asyncio.sleep(0.02)
    assert await bot.query("SELECT id, status, error FROM outbox WHERE status!='sent'") == []


async def test_slow_answers_and_server_errors_are_retried(bot, fake):
    await bot.register("alice", ALICE, "Alice")
    fake.slow("sendMessage", 0.3, times=1)
    fake.fail("sendMessage", 502, times=1)
    person = bot.engine.directory.person("alice")
    await bot.engine.perform(lambda tx: tx.send(person, Outbound("Please check the fire doors.")))
    await fake.wait_for(lambda: "Please check the fire doors." in fake.texts(ALICE))
    assert fake.texts(ALICE).count("Please check the fire doors.") == 1


async def test_blocked_bot_is_marked_failed_and_falls_back_to_another_platform(tmp_path, fake):
    slack = MemoryTransport("slack")
    b = await start_bot(tmp_path, fake, extra=[slack])
    try:
        alice = await b.register("alice", ALICE, "Alice")
        await b.register("bob", BOB, "Bob")
        b.engine.directory.bind("bob", "slack", "UBOB")
        fake.block(BOB)
        fake.say(alice, "Is Mr Brown in today?")
        await fake.wait_for(lambda: [r for r in slack.records if r.delivery.chat_id == "UBOB"])
        card = slack.records[-1].delivery
        assert "Aggressive" in card.text and [x.label for x in card.buttons][0] == "Acknowledge"
        timeline = [r[0] for r in await b.query("SELECT text FROM alert_events ORDER BY id")]
        assert any("message to Bob Green via telegram failed (Forbidden: bot was blocked by the user); "
                   "sent via slack instead" in t for t in timeline), timeline
        assert await b.query("SELECT error FROM outbox WHERE status='failed'") == [
            ("Forbidden: bot was blocked by the user",)]
    finally:
        await b.engine.stop()


async def test_bot_starts_while_telegram_is_unreachable_and_catches_up(tmp_path, fake):
    fake.fail("getMe", 502)
    b = await start_bot(tmp_path, fake, outbox_max_attempts=1000)
    try:
        assert not b.transport.ready.is_set()
        fake.chats[ALICE] = {"id": ALICE, "type": "private"}
        await b.engine.perform(lambda tx: tx.send_to(("telegram", str(ALICE), str(ALICE)),
                                                     Outbound("Fire drill at 3pm."), person="alice"))
        await fake.wait_for(lambda: "Fire drill at 3pm." in fake.texts(ALICE), timeout=5)
        assert b.transport.mode == "polling"
    finally:
        await b.engine.stop()


async def test_a_wrong_token_stops_the_bot_with_a_clear_error(tmp_path, fake, caplog):
    s = make_settings(tmp_path / "saferbot.db", telegram_token="999:revoked", telegram_api_url=fake.url)
    service = load_service(s.service_file)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), transports=[TelegramTransport(s)])
    try:
        with pytest.raises(Exception) as refused:
            await engine.start()
    finally:
        await engine.stop()
    assert "Telegram refused SAFERBOT_TELEGRAM_TOKEN" in explain(refused.value, s)  # what `saferbot run` prints


# --- webhook mode --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_webhook_mode_processes_signed_updates_and_rejects_wrong_secret(tmp_path, fake):
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    b = await start_bot(tmp_path, fake, telegram_webhook_url=url, telegram_webhook_secret="s3cret-token",
                        telegram_webhook_listen="127.0.0.1", telegram_webhook_port=port)
    try:
        assert b.transport.mode == "webhook"
        assert fake.webhook == {"url": url, "secret_token": "s3cret-token"}
        # the fake Telegram pushes with the right secret: registration works
        alice = await b.register("alice", ALICE, "Alice")
        assert all(status == 200 for _, status in fake.webhook_posts)
        sent_before = len(fake.calls_of("sendMessage"))
        forged = {"update_id": 777, "message": {"message_id": 5, "date": int(time.time()), "from": alice,
                                                "chat": {"id": ALICE, "type": "private"},
                                                "text": "Is Mr Brown in today?"}}
        async with aiohttp.ClientSession() as http:
            for headers in ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, {}):
                async with http.post(url, json=forged, headers=headers) as r:
                    assert r.status == 403
        await asyncio.sleep(0.2)
        assert await b.query("SELECT id FROM alerts") == []
        assert await b.query("SELECT key FROM inbound WHERE key='telegram:777'") == []
        assert len(fake.calls_of("sendMessage")) == sent_before
        # the real thing still works
        fake.say(alice, "Is Mr Brown in today?")
        await fake.wait_for(lambda: COVER in fake.texts(ALICE))
        assert len(await b.query("SELECT id FROM alerts")) == 1
    finally:
        await b.engine.stop()


async def test_webhook_url_without_secret_long_polls_instead(tmp_path, fake):
    b = await start_bot(tmp_path, fake, telegram_webhook_url="https://bot.example.org/telegram")
    try:
        assert b.transport.mode == "polling" and fake.webhook is None
    finally:
        await b.engine.stop()


# --- what people see -----------------------------------------------------------------------------

NASTY = "<b>Mr Brown</b> & <a href=\"https://evil.example\">click</a> &amp; <script>x</script> 5 > 3"


async def test_markup_in_user_text_is_shown_literally(bot, fake):
    await bot.register("alice", ALICE, "Alice")
    person = bot.engine.directory.person("alice")
    await bot.engine.perform(lambda tx: tx.send(person, Outbound(f"Note from Carol: {NASTY}",
                                                                 buttons=(Button("Seen", "x.seen", "1"),))))
    msg = await fake.wait_for(lambda: [m for m in fake.inbox(ALICE) if m.text.startswith("Note from Carol")])
    assert msg[0].text == f"Note from Carol: {NASTY}"
    assert msg[0].entities == [], "no bold, no link"
    sent = fake.calls_of("sendMessage")[-1].params
    assert sent["parse_mode"] == "HTML" and sent["link_preview_options"] == {"is_disabled": True}


async def test_deliver_edits_splits_and_attaches(bot, fake, tmp_path):
    await bot.register("alice", ALICE, "Alice")
    t = bot.transport

    def d(kind="send", text="hello", ref=None, buttons=(), attachment=None):
        return Delivery(id=1, kind=kind, platform="telegram", chat_id=str(ALICE), user_id=str(ALICE), text=text,
                        buttons=buttons, priority=int(Priority.reply), message_ref=ref, attachment=attachment)

    ref = await t.deliver(d(text="Card v1", buttons=(Button("Acknowledge", "alert.ack", "1"),)))
    assert await t.deliver(d("edit", "Card v2", ref)) == ref
    assert await t.deliver(d("edit", "Card v2", ref)) == ref  # "message is not modified" is success
    m = fake.inbox(ALICE)[-1]
    assert m.text == "Card v2" and m.buttons == []
    # a long report arrives whole, in parts, never cut mid-line
    long = "\n".join(f"line {i} & <more>" for i in range(600))
    await t.deliver(d(text=long))
    parts = [x.text for x in fake.inbox(ALICE) if x.text.startswith("line")]
    assert len(parts) > 1 and "\n".join(parts) == long
    # a chart goes as a photo with its caption
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    await t.deliver(d(text="Monthly report <Central>", attachment=str(png)))
    photo = fake.inbox(ALICE)[-1]
    assert photo.kind == "photo" and photo.text == "Monthly report <Central>" and photo.file_bytes.startswith(b"\x89PNG")
    # a gone chat can never be delivered; a 429 tells the outbox how long to wait
    with pytest.raises(Undeliverable, match="(?i)chat not found"):
        await t.deliver(Delivery(id=2, kind="send", platform="telegram", chat_id="424242", user_id="424242",
                                 text="hi", buttons=(), priority=1))
    fake.fail("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as e:
        await t.deliver(d())
    assert e.value.seconds == 7 and e.value.whole_platform
    fake.fail("sendMessage", 500)
    with pytest.raises(Exception) as e2:
        await t.deliver(d())
    assert not isinstance(e2.value, RetryAfter | Undeliverable)


def test_limits_and_group_pacing():
    assert TelegramTransport.limits == Limits(per_second=30, per_chat_interval=1.0, per_chat_burst=2)
    t = TelegramTransport.__new__(TelegramTransport)
    assert t.chat_interval("1001") == 1.0 and t.chat_interval("-100123") == 3.0


def test_escape_and_split_are_exact():
    assert render_html(escape(NASTY)) == (NASTY, [])
    text = "a & b\n" * 2000
    parts = chunks(text)
    assert len(parts) > 1 and all(len(escape(p)) <= 4096 for p in parts) and "\n".join(parts) == text


async def test_webhook_answers_400_for_an_update_id_that_is_not_a_whole_number(tmp_path, fake):
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    b = await start_bot(tmp_path, fake, telegram_webhook_url=url, telegram_webhook_secret="s3cret-token",
                        telegram_webhook_port=port)
    try:
        async with aiohttp.ClientSession() as http:
            for raw in ('{"update_id": Infinity}', '{"update_id": 1e400}', '{"update_id": NaN}'):
                async with http.post(url, data=raw.encode(), headers={
                        "X-Telegram-Bot-Api-Secret-Token": "s3cret-token", "Content-Type": "application/json"}) as r:
                    assert r.status == 400, raw
        assert await b.query("SELECT key FROM inbound") == []
    finally:
        await b.engine.stop()
