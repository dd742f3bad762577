"""Registration rules at engine level (fake clock, in-memory Telegram): expiry, replacement,
a new phone, restarts. The wire-level flow is in test_telegram.py."""

from __future__ import annotations

import re

from bot.book import load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from bot.router import NEUTRAL
from bot.transports.memory import MemoryTransport
from tests.conftest import Harness, make_settings, settle

DAY = 24 * 3600


async def start(tmp_path, clock, **settings) -> tuple[Harness, MemoryTransport]:
    """Dana (admin) on the console; everyone else registers on an in-memory 'telegram'."""
    console, tg = MemoryTransport("console"), MemoryTransport("telegram")
    s = make_settings(tmp_path / "saferbot.db", **settings)
    service = load_service(s.service_file)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[console, tg])
    await engine.start()
    await settle(engine)
    return Harness(engine, clock, console, tmp_path / "saferbot.db"), tg


async def invite(h: Harness, who: str) -> str:
    await h.say("dana", f"invite {who}")
    m = re.search(r"start[= ]([A-Za-z0-9_-]{20,})", h.last("dana").text)
    assert m, h.last("dana").text
    return m.group(1)


async def tap(h: Harness, tg: MemoryTransport, user: str, code: str) -> str:
    await tg.say(user, f"/start {code}")
    await settle(h.engine)
    return tg.latest(user).text


async def test_invite_expires_after_the_set_time(tmp_path, clock):
    h, tg = await start(tmp_path, clock, invite_valid_for="2d")
    try:
        code = await invite(h, "alice")
        assert "It works once, until Fri 27 Nov 2026 14:30" in h.last("dana").text
        await h.advance(2 * DAY + 1)
        assert await tap(h, tg, "501", code) == NEUTRAL
        assert h.engine.directory.find("telegram", "501") is None
        fresh = await invite(h, "alice")
        assert (await tap(h, tg, "501", fresh)).startswith("Welcome, Alice Smith")
    finally:
        await h.engine.stop()


async def test_a_new_invite_replaces_the_old_link(tmp_path, clock):
    h, tg = await start(tmp_path, clock)
    try:
        old = await invite(h, "Carol Jones")  # by full name
        new = await invite(h, "carol")
        assert await tap(h, tg, "601", old) == NEUTRAL
        assert (await tap(h, tg, "601", new)).startswith("Welcome, Carol Jones")
        await h.say("dana", "invite nobody")
        assert h.last("dana").text.startswith("Who should I invite?")
    finally:
        await h.engine.stop()


async def test_a_new_phone_replaces_the_old_account_and_survives_a_restart(tmp_path, clock):
    h, tg = await start(tmp_path, clock)
    try:
        await tap(h, tg, "701", await invite(h, "bob"))
        assert "Bob Green has registered on Telegram." in h.texts("dana")
        await tap(h, tg, "702", await invite(h, "bob"))  # lost his phone; new account
        assert h.engine.directory.find("telegram", "701") is None
        assert h.engine.directory.find("telegram", "702").key == "bob"
    finally:
        await h.engine.stop()
    h, tg = await start(tmp_path, clock)  # same database
    try:
        assert h.engine.directory.find("telegram", "702").key == "bob"
        assert h.engine.directory.find("telegram", "701") is None
        await h.say("alice", "Is Mr Brown in today?", event_id="after-restart")  # ids restart at e1
        card = tg.latest("702")
        assert card and "Aggressive" in card.text, "alerts reach Bob's new phone after a restart"
        assert tg.latest("701") is None
    finally:
        await h.engine.stop()
