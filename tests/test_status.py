"""`saferbot status` and `saferbot doctor` on each store: the lines an admin reads to know what is going on.

The data comes from the bot itself (a codeword alert nobody acknowledged, a lone-working
session); "running" is the real instance lock (SQLite) or the real lease row (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import uuid

import pytest

from bot.clock import FakeClock
from bot.commands import status
from bot.instance import InstanceLock
from bot.lease import Lease
from bot.store import migrations
from tests import pgtest
from tests.conftest import AFTERNOON, start_engine
from tests.test_migrate_store import with_password
from tests.test_ops import saferbot

MIN = 60


async def day_of_use(db) -> None:
    """An alert nobody acknowledged (climbs at 14:32) and a lone session (reminder 14:35), bot stopped."""
    h = await start_engine(db, FakeClock(AFTERNOON))
    await h.say("alice", "Is Mr Brown in today?")
    await h.say("carol", "lone 10m back office")
    await h.engine.stop()


def screen(monkeypatch, capsys, db, at: float) -> list[str]:
    monkeypatch.setattr(status, "wall_clock", lambda: at)
    assert saferbot(monkeypatch, db, "status") == 0
    return capsys.readouterr().out.splitlines()


async def test_sqlite_stopped_then_running(tmp_path, monkeypatch, capsys):
    db = tmp_path / "saferbot.db"
    await day_of_use(db)
    con = sqlite3.connect(db)
    with con:  # what a running bot writes every 15 s
        con.execute("INSERT INTO heartbeat(id, at) VALUES(1, ?)", (AFTERNOON,))
    con.close()

    lines = screen(monkeypatch, capsys, db, AFTERNOON + 30)
    assert re.fullmatch(rf"store: +SQLite {re.escape(str(db))} \(\d+ KB\)", lines[0])
    assert lines[1:] == [
        "active:           not running (nothing holds the instance lock)",
        "open alerts:      1 (1 not yet acknowledged)",
        "lone working:     1 live session(s)",
        "outbox:           0 message(s) waiting to be sent",
        "overdue wake-ups: 0",
        "last heartbeat:   2026-11-25T14:30:00+00:00 (30 s ago)",
    ]

    bot = InstanceLock(db)  # what `saferbot run` holds while it runs
    assert bot.try_acquire()
    try:
        lines = screen(monkeypatch, capsys, db, AFTERNOON + 15 * MIN)
    finally:
        bot.release()
    assert re.fullmatch(rf"active: +pid {os.getpid()} on host {re.escape(socket.gethostname())} since \S+",
                        lines[1])
    # 14:45: the climb (14:32) and the lone-working sweep (14:35) should have fired by now
    assert lines[5] == ("overdue wake-ups: 2 (a running saferbot fires these within seconds: "
                        "if this stays, run saferbot doctor)")
    assert lines[6] == "last heartbeat:   2026-11-25T14:30:00+00:00 (15 min ago)"


def test_sqlite_that_does_not_exist_is_not_created(tmp_path, monkeypatch, capsys):
    db = tmp_path / "typo.db"
    lines = screen(monkeypatch, capsys, db, AFTERNOON)
    assert lines == [f"store:            SQLite {db} (does not exist yet: it is made when saferbot first starts)"]
    assert not db.exists()


async def test_postgresql_with_and_without_the_lease(monkeypatch, capsys, schema):
    await day_of_use(schema.url)
    url, password = with_password(schema.url)
    lease = Lease(schema.url, ttl=5)
    assert await lease.try_acquire()  # a running instance
    try:
        lines = await asyncio.to_thread(screen, monkeypatch, capsys, url, AFTERNOON + 15 * MIN)
    finally:
        await lease.release()
    shown = url.replace(password, "***")
    assert re.fullmatch(rf"store: +PostgreSQL {re.escape(shown)} \(server 1\d.*\)", lines[0])
    assert password not in "\n".join(lines)
    assert re.fullmatch(rf"active: +{re.escape(lease.holder)} \(generation 1\) active since \S+, "
                        r"renewed \d+\.\d s ago", lines[1])
    assert lines[2:6] == ["open alerts:      1 (1 not yet acknowledged)", "lone working:     1 live session(s)",
                          "outbox:           0 message(s) waiting to be sent",
                          "overdue wake-ups: 2 (a running saferbot fires these within seconds: "
                          "if this stays, run saferbot doctor)"]

    lines = await asyncio.to_thread(screen, monkeypatch, capsys, url, AFTERNOON + 15 * MIN)
    assert re.fullmatch(rf"active: +not running: the lease is free \(last held by {re.escape(lease.holder)}, "
                        r"generation 1, last renewed \d+ s ago\)", lines[1])
    assert lines[5] == "overdue wake-ups: 2 (they fire as soon as saferbot starts)"


def test_postgresql_unreachable_says_so_without_the_password(monkeypatch, capsys):
    url = "postgresql://saferbot:Sup3r-s3cret@127.0.0.1:1/saferbot"  # port 1: nothing listens
    assert saferbot(monkeypatch, url, "status") == 2
    err = capsys.readouterr().err
    assert "cannot read the store postgresql://saferbot:***@127.0.0.1:1/saferbot" in err
    assert "Sup3r-s3cret" not in err and "saferbot doctor" in err


# --- doctor on PostgreSQL -----------------------------------------------------------------------------------
async def test_doctor_on_postgresql_checks_server_schema_writes_and_lease(monkeypatch, capsys, schema):
    await day_of_use(schema.url)
    intake = schema.query("SELECT key FROM inbound ORDER BY key")
    server_off = server_vacuum_off()
    assert await asyncio.to_thread(saferbot, monkeypatch, schema.url, "doctor") == (1 if server_off else 0)
    out = capsys.readouterr().out
    if server_off:  # this server keeps every dead row: doctor says so and how to fix it, and nothing else is wrong
        assert f"FIX   store: {server_off} on the server: the rows each message leaves behind" in out
        assert out.count("FIX") == 1
    else:
        assert "OK    store: autovacuum reclaims the rows sent messages leave behind" in out
    parts = len(migrations.COMPONENTS)  # every component's steps, one line of schema_version each
    assert re.search(rf"^OK    store: PostgreSQL 1\d\.\d+ at .*, schema up to date \({parts} parts\)$", out, re.M)
    assert "OK    store: the user can write (a test row, rolled back)" in out
    assert "NOTE  store: not running (no instance has held the lease yet)" in out
    assert schema.query("SELECT key FROM inbound ORDER BY key") == intake  # the test row was rolled back

    # a user that may read but not write: doctor says so, and how to fix it
    role = "ro_" + uuid.uuid4().hex[:8]
    grants = (f"CREATE ROLE {role} LOGIN", f"GRANT USAGE, CREATE ON SCHEMA {schema.name} TO {role}",
              f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema.name} TO {role}")
    reader = re.sub(r"://[^:/@]+(:[^@]*)?@", f"://{role}@", schema.url, count=1)
    await asyncio.to_thread(run_sql, *grants)
    try:
        assert await asyncio.to_thread(saferbot, monkeypatch, reader, "doctor") == 1
    finally:
        await asyncio.to_thread(run_sql, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
    out = capsys.readouterr().out
    assert "FIX   store: the user cannot write (InsufficientPrivilege: permission denied for table" in out
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA" in out

    assert saferbot(monkeypatch, "postgresql://saferbot:Sup3r-s3cret@127.0.0.1:1/saferbot", "doctor") == 1
    out = capsys.readouterr().out
    assert "FIX   store: cannot use PostgreSQL at postgresql://saferbot:***@127.0.0.1:1/saferbot" in out
    assert "Sup3r-s3cret" not in out and "pg_hba.conf" in out


def server_vacuum_off() -> str:
    """What of autovacuum is off on the test server ('' when it runs): the doctor must say the same."""
    import psycopg

    with psycopg.connect(pgtest.PG_URL, autocommit=True) as c:
        off = [n for n in ("autovacuum", "track_counts") if c.execute(f"SHOW {n}").fetchone()[0] != "on"]
    return f"{' and '.join(off)} {'is' if len(off) == 1 else 'are'} off" if off else ""


async def test_doctor_names_the_tables_whose_dead_rows_are_never_reclaimed(monkeypatch, capsys, schema):
    """A DBA turned autovacuum off for the outbox and wake-ups (a bulk load, say) and never back on: every message
    leaves dead rows there, the claim reads through more of them each month, and alerts slow down with nothing
    failing. Doctor names the tables and how to turn it back on, whatever the server's own setting."""
    await day_of_use(schema.url)
    tables = [f"{schema.name}.{t}" for t in ("outbox", "wakeups")]
    run_sql(*(f"ALTER TABLE {t} SET (autovacuum_enabled = false)" for t in tables))
    try:
        assert await asyncio.to_thread(saferbot, monkeypatch, schema.url, "doctor") == 1
    finally:  # the schema is emptied and reused by the next test (tests/pgtest.py): leave its tables as made
        run_sql(*(f"ALTER TABLE {t} RESET (autovacuum_enabled)" for t in tables))
    out = capsys.readouterr().out
    assert "autovacuum is turned off for tables outbox, wakeups: the rows each message leaves behind" in out
    assert "ALTER TABLE <table> RESET (autovacuum_enabled)" in out
    assert "OK    store: autovacuum reclaims" not in out


def run_sql(*statements: str) -> None:
    import psycopg

    with psycopg.connect(pgtest.PG_URL, autocommit=True) as c:
        for s in statements:
            c.execute(s)


PASSWORD_URLS = ("postgresql://saferbot@127.0.0.1:1/saferbot?password=Sup3r-s3cret",
                 "postgresql://saferbot@127.0.0.1:1/saferbot?sslmode=disable&password=Sup3r-s3cret",
                 "postgresql://saferbot:Sup3r@s3cret@127.0.0.1:1/saferbot")


@pytest.mark.parametrize("url", PASSWORD_URLS)
@pytest.mark.parametrize("command", ["status", "doctor"])
def test_a_password_in_the_url_is_never_printed(monkeypatch, capsys, url, command):
    """As a ?password= parameter, or with an unescaped @ in it: never shown, not even its tail."""
    saferbot(monkeypatch, url, command)
    out = capsys.readouterr()
    shown = out.out + out.err
    assert "Sup3r" not in shown and "s3cret" not in shown, shown


@pytest.mark.parametrize("url", PASSWORD_URLS)
def test_hide_password_hides_every_form(url):
    from bot.settings import hide_password

    assert "s3cret" not in hide_password(url) and "Sup3r" not in hide_password(url)
    assert "127.0.0.1:1/saferbot" in hide_password(url)


@pytest.mark.parametrize("url", PASSWORD_URLS)
def test_the_start_up_error_never_shows_the_password(url):
    import psycopg

    from bot.serve import explain
    from bot.settings import Settings

    try:
        psycopg.connect(url, connect_timeout=2)
    except psycopg.Error as e:
        line = explain(e, Settings(db=url))
    assert "s3cret" not in line and "Sup3r" not in line, line
