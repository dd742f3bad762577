"""People are not their keys: a leaver's phone and invites stop at once, a re-used key is a new
person who must register again, and records keep pointing at the person they were about."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3

from bot.book import load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from bot.router import NEUTRAL
from bot.transports.memory import MemoryTransport
from tests.conftest import ROOT, Harness, make_settings, settle
from tests.test_registration import invite, start, tap

DAY = 24 * 3600


def cli(monkeypatch, db, *argv: str) -> int:
    from bot import cli as entry

    monkeypatch.setenv("SAFERBOT_DB", str(db))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    return entry.main(list(argv))


async def _until(predicate, timeout: float = 3.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def test_a_leavers_phone_does_not_pass_to_the_next_person_with_the_same_key(tmp_path, clock, monkeypatch):
    h, tg = await start(tmp_path, clock, roster_refresh=0.05)
    try:
        assert (await tap(h, tg, "501", await invite(h, "alice"))).startswith("Welcome, Alice Smith")
        await tg.say("501", "log man shouted at me by the lifts")
        await settle(h.engine)
        pending = await invite(h, "alice")  # a second link, never used
        # the leaver goes, on the command line, while the bot runs
        assert await asyncio.to_thread(cli, monkeypatch, h.db, "roster", "remove", "alice") == 0
        assert await _until(lambda: h.engine.directory.find("telegram", "501") is None), \
            "the running bot still knows the leaver's phone"
        await tg.say("501", "help")
        await settle(h.engine)
        assert tg.latest("501").text == NEUTRAL
        assert await tap(h, tg, "503", pending) == NEUTRAL  # her pending invite died with her
        assert await asyncio.to_thread(cli, monkeypatch, h.db, "roster", "add", "alice", "name=Alice Brown",
                                       "role=duty_manager", "branch=riverside") == 0
    finally:
        await h.engine.stop()

    h, tg = await start(tmp_path, clock)  # restart: the new Alice is a new person
    h.transport._events = itertools.count(1000)  # event ids the first run did not use
    tg._events = itertools.count(1000)
    try:
        await tg.say("501", "help")
        await settle(h.engine)
        got = tg.latest("501")  # a stranger hears the neutral line (once), never the new Alice's menu
        assert h.engine.directory.find("telegram", "501") is None and (got is None or got.text == NEUTRAL), \
            "the old phone got in as the new Alice"
        assert (await tap(h, tg, "502", await invite(h, "alice"))).startswith("Welcome, Alice Brown")
        await tg.say("502", "incidents")
        await settle(h.engine)
        assert "INC-2026-0001" not in tg.latest("502").text  # the old Alice's incident is not hers
        await h.say("dana", "incident INC-2026-0001")
        assert "Reported by: Alice Smith" in h.last("dana").text  # the record still names who it was about
    finally:
        await h.engine.stop()


async def test_removing_in_chat_ends_bindings_and_invites_at_once(tmp_path, clock):
    h, tg = await start(tmp_path, clock)
    try:
        await tap(h, tg, "601", await invite(h, "carol"))
        pending = await invite(h, "carol")
        await h.say("dana", "person remove carol")
        assert h.last("dana").text.startswith("Saved: removed Carol Jones")
        await h.say("dana", 'person add carol name="Carol King" role=staff branch=riverside')
        await tg.say("601", "help")
        await settle(h.engine)
        assert tg.latest("601").text == NEUTRAL
        assert await tap(h, tg, "602", pending) == NEUTRAL
        rows = sqlite3.connect(h.db).execute("SELECT COUNT(*) FROM bindings WHERE person='carol'").fetchone()
        assert rows == (0,)
    finally:
        await h.engine.stop()


async def test_someone_taken_out_of_the_service_file_is_a_leaver_too(tmp_path, clock):
    h, tg = await start(tmp_path, clock)
    try:
        await tap(h, tg, "701", await invite(h, "erin"))
        await tg.say("701", "log shouted at by a visitor")
        await settle(h.engine)
    finally:
        await h.engine.stop()
    text = (ROOT / "config" / "service.example.yaml").read_text(encoding="utf-8")
    edited = tmp_path / "service.yaml"
    edited.write_text(text.replace("  erin:  {name: Erin Shah, role: staff, branch: riverside, phone: \"+44 7700 900004\"}\n",
                                   ""), encoding="utf-8")
    s = make_settings(h.db).model_copy(update={"service_file": edited})
    service = load_service(edited)
    tg = MemoryTransport("telegram")
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock,
                    transports=[MemoryTransport("console"), tg])
    await engine.start()
    h = Harness(engine, clock, tg, h.db)
    try:
        assert h.engine.directory.find("telegram", "701") is None
        rows = sqlite3.connect(h.db).execute("SELECT reporter FROM incidents").fetchall()
        assert rows == [("erin~1",)]
    finally:
        await h.engine.stop()
