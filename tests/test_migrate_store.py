"""`saferbot migrate-store`: a real SQLite deployment moved to a real PostgreSQL schema, and back.

The data is made by the bot itself (a codeword alert, an incident, a lone-working session),
the copy runs through the command line, and a bot started on the new store must carry on
exactly where the old one stopped: the alert climbs once, the missed check-in escalates
once, and new rows take the next ids and incident numbers without colliding.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3

from bot.clock import FakeClock
from bot.instance import InstanceLock
from bot.lease import Lease
from bot.store import connect
from tests.conftest import AFTERNOON, start_engine
from tests.test_ops import saferbot

MIN = 60
BUSY = ("alert_events", "alerts", "incidents", "lone_sessions", "lone_events", "outbox", "wakeups", "heartbeat")


async def sqlite_deployment(db, clock: FakeClock) -> None:
    """A SQLite store as a day's use leaves it, with the bot stopped."""
    h = await start_engine(db, clock)
    await h.say("alice", "Is Mr Brown in today?")  # codeword alert 1, nobody acknowledges
    await h.say("carol", "log shouting at the enquiry desk")  # INC-2026-0001
    await h.say("alice", "lone 10m back office")  # check-in due 14:40, escalates at 14:45
    await h.engine.stop()
    con = sqlite3.connect(db)  # what `saferbot run` writes every 15 s (bot/health.py), the harness does not
    with con:
        con.execute("INSERT INTO heartbeat(id, at) VALUES(1, ?)", (clock.now(),))
    con.close()


def sqlite_counts(db) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in names}
    finally:
        con.close()


def with_password(url: str) -> tuple[str, str]:
    """The test server's URL with a password in it (trust auth ignores it): it must never be printed."""
    m = re.search(r"://[^:/@]+:([^@]+)@", url)
    if m:
        return url, m.group(1)
    return re.sub(r"://([^:/@]+)@", r"://\1:Sup3r-s3cret@", url, count=1), "Sup3r-s3cret"


def migrate(monkeypatch, src, dst) -> int:
    return saferbot(monkeypatch, src, "migrate-store", "--from", str(src), "--to", str(dst))


async def test_sqlite_to_postgresql_and_the_bot_carries_on(tmp_path, monkeypatch, capsys, schema):
    clock = FakeClock(AFTERNOON)
    src = tmp_path / "saferbot.db"
    await sqlite_deployment(src, clock)
    before = sqlite_counts(src)
    assert [t for t in BUSY if not before[t]] == []
    url, password = with_password(schema.url)

    assert await asyncio.to_thread(migrate, monkeypatch, src, url) == 0
    out = capsys.readouterr().out
    assert password not in out and ":***@" in out
    rows = {m[1]: (int(m[2]), int(m[3])) for m in re.finditer(r"^(\w+) +(\d+) +(\d+)$", out, re.M)}
    for table, n in before.items():
        if table not in ("schema_version", "lease"):
            assert rows[table] == (n, n), table
            assert schema.query(f"SELECT COUNT(*) FROM {table}")[0][0] == n, table
    assert "the counts match" in out
    assert f"Next: set SAFERBOT_DB={url.replace(password, '***')} (with the password in place of ***)" in out
    assert sqlite_counts(src) == before  # the source is only read
    lock = InstanceLock(src)
    assert lock.try_acquire()  # and its lock was handed back
    lock.release()

    # a bot on PostgreSQL, at the same moment: everything that was due goes on exactly once
    h = await start_engine(schema.url, clock)
    try:
        await h.advance(2 * MIN + 1)  # the unacknowledged codeword alert climbs to tier 2
        assert ["tier 2 of 2" in t for t in h.texts("dana")] == [True]
        await h.advance(14 * MIN)  # 14:46: alice's missed check-in escalates to the duty manager
        assert sum("Missed lone-working check-in" in t for t in h.texts("bob")) == 1
        lone = await h.query("SELECT id, kind FROM alerts WHERE kind='lone'")
        assert [tuple(r) for r in lone] == [(2, "lone")]  # the next id, not a collision with alert 1
        # (a fresh transport numbers its events from 1 again: the copied intake keys would drop them as repeats)
        await h.say("carol", "log second incident", event_id="after-the-move")
        assert "INC-2026-0002" in h.last("carol").text
        refs = await h.query("SELECT id, ref FROM incidents ORDER BY id")
        assert [tuple(r) for r in refs] == [(1, "INC-2026-0001"), (2, "INC-2026-0002")]
    finally:
        await h.engine.stop()

    # and back again (PostgreSQL -> SQLite): the other direction is the way out
    back = tmp_path / "back" / "saferbot.db"
    assert await asyncio.to_thread(migrate, monkeypatch, url, back) == 0
    assert "the counts match" in capsys.readouterr().out
    after = sqlite_counts(back)
    assert after["incidents"] == 2 and after["alerts"] == 2 and after["lone_sessions"] == 1
    con = sqlite3.connect(back)
    assert con.execute("SELECT ref FROM incidents ORDER BY id").fetchall() == [("INC-2026-0001",),
                                                                               ("INC-2026-0002",)]
    con.close()


async def test_refuses_a_target_that_already_holds_data(tmp_path, monkeypatch, capsys, db, clock):
    src = tmp_path / "old.db"
    await sqlite_deployment(src, FakeClock(AFTERNOON))
    h = await start_engine(db, clock)  # the target is some other deployment's live data
    await h.say("alice", "Is Mr Brown in today?")
    await h.engine.stop()
    events_before = await asyncio.to_thread(count, db, "alert_events")

    assert await asyncio.to_thread(migrate, monkeypatch, src, db) == 2
    err = capsys.readouterr().err
    assert "the target already holds data (table alert_events: " in err
    assert "empty" in err and "Nothing was changed" in err
    assert await asyncio.to_thread(count, db, "alert_events") == events_before


def count(db, table: str) -> int:
    conn = connect(db)
    try:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


async def test_refuses_while_a_bot_runs_on_the_sqlite_source(tmp_path, monkeypatch, capsys):
    src, dst = tmp_path / "saferbot.db", tmp_path / "new.db"
    await sqlite_deployment(src, FakeClock(AFTERNOON))
    running = InstanceLock(src)
    assert running.try_acquire()  # what `saferbot run` holds
    try:
        assert await asyncio.to_thread(migrate, monkeypatch, src, dst) == 2
    finally:
        running.release()
    err = capsys.readouterr().err
    assert f"saferbot is running on the source store (pid {os.getpid()} on host" in err
    assert "stop every instance first" in err and not dst.exists()
    assert await asyncio.to_thread(migrate, monkeypatch, src, dst) == 0  # once stopped, it goes


async def test_refuses_while_an_instance_holds_the_postgresql_lease(tmp_path, monkeypatch, capsys, schema, clock):
    h = await start_engine(schema.url, clock)
    await h.say("carol", "log shouting at the enquiry desk")
    await h.engine.stop()
    lease = Lease(schema.url, ttl=5)
    assert await lease.try_acquire()  # a running instance
    dst = tmp_path / "saferbot.db"
    try:
        assert await asyncio.to_thread(migrate, monkeypatch, schema.url, dst) == 2
    finally:
        await lease.release()
    err = capsys.readouterr().err
    assert f"saferbot is running on the source store ({lease.holder} (generation 1) active since" in err
    assert not dst.exists()
    assert await asyncio.to_thread(migrate, monkeypatch, schema.url, dst) == 0  # the lease was handed back
    assert sqlite_counts(dst)["incidents"] == 1


def test_refuses_the_same_store_a_missing_source_and_an_empty_one(tmp_path, monkeypatch, capsys):
    db, new = tmp_path / "saferbot.db", tmp_path / "new.db"
    assert migrate(monkeypatch, db, db) == 2
    assert "the same store" in capsys.readouterr().err
    assert migrate(monkeypatch, tmp_path / "typo.db", new) == 2
    assert "there is no database at" in capsys.readouterr().err and not new.exists()
    connect(db).close()  # a store saferbot made but never used
    assert migrate(monkeypatch, db, new) == 2
    assert "the source holds no saferbot data" in capsys.readouterr().err
    assert not new.exists()  # no empty file left where the admin asked for the copy
