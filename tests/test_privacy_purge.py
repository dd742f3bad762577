"""Retention covers every copy: after `saferbot purge`, no personal text from an incident past
retention is left in any table, nor in the SQLite file, its WAL or its shared-memory file.
On PostgreSQL (no files of ours) every row of every table is searched instead."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from tests.conftest import start_engine
from tests.test_incidents import run_cli

# seven years before the real "now" of the purge: well past the default six-year retention
LONG_AGO = datetime(2019, 11, 20, 14, 30, tzinfo=ZoneInfo("Europe/London")).timestamp()

# a unique marker in every field a person types about an incident, a lone visit or a backup call
M = {name: f"Zq{name.upper()}{i:02d}x" for i, name in enumerate(
    ("stub", "location", "affected", "happened", "perp", "trigger", "words", "injury", "aid", "crime",
     "evidence", "witness", "actions", "note", "lone", "backup"))}

FORM = [
    "2019-11-20 14:20", f"desk {M['location']}", "1", "staff", f"Carol {M['affected']}",
    f"he shouted {M['happened']}", f"red coat {M['perp']}", f"fines {M['trigger']}", f"said {M['words']}",
    f"bruised arm {M['injury']}", f"ice pack {M['aid']}", "yes", f"CR/{M['crime']}",
    f"camera {M['evidence']}", f"Jo Bloggs 07700 900123 {M['witness']}", f"walked out {M['actions']}", "no", "no",
]


def _files(db: Path | str) -> list[Path]:
    return [p for p in (Path(db), Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def _contents(db: Path | str) -> list[bytes]:
    """SQLite: the bytes of its files. PostgreSQL: the text of every row of every table."""
    if isinstance(db, Path):
        return [f.read_bytes() for f in _files(db)]
    from bot.store import connect

    conn = connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables"
                                             " WHERE table_schema=current_schema()")]
        return [repr(conn.execute(f"SELECT * FROM {t}").fetchall()).encode() for t in tables]
    finally:
        conn.close()


def _found(db: Path | str) -> set[str]:
    found = set()
    for data in _contents(db):
        found |= {name for name, marker in M.items() if marker.encode() in data}
    return found


async def test_purge_leaves_no_marker_in_any_table_or_file(tmp_path, monkeypatch, capsys, db):
    from tests.test_incidents import fill_form

    h = await start_engine(db, FakeClock(LONG_AGO))
    try:
        await h.say("alice", f"log man shouted {M['stub']}")
        await h.press("alice", "Complete form")
        await fill_form(h, "alice", FORM)
        await h.say("bob", "incident INC-2019-0001")  # the full form goes out to a reading manager
        assert M["perp"] in h.last("bob").text
        await h.say("bob", f"incident INC-2019-0001 note spoke to {M['note']}")
        await h.say("alice", f"lone 45m home visit {M['lone']}")
        await h.say("alice", "finish")
        await h.say("alice", f"backup {M['backup']}")
        await h.say("alice", "stand down")
        await h.say("alice", "Is Mr Brown in today?")  # a codeword alert: its timeline names people
        await h.press("bob", "Resolve")
    finally:
        await h.engine.stop()
    assert {"perp", "witness", "lone", "backup"} <= _found(h.db)  # the markers really are in the file

    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "purge") == 0
    printed = capsys.readouterr().out
    assert "INC-2019-0001" in printed
    assert _found(h.db) == set(), f"markers still readable after purge: {sorted(_found(h.db))}"


async def test_purge_keeps_recent_messages_and_live_records(tmp_path, monkeypatch, db):
    """Only old things go: today's alert, its messages and a live lone session stay whole."""
    import time

    from bot.store import Store

    h = await start_engine(db, FakeClock(time.time()))
    try:
        await h.say("alice", "lone 45m home visit Zqkeepme")
        await h.say("alice", "Is Mr Brown in today?")
    finally:
        await h.engine.stop()
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "purge") == 0
    store = await Store.open(h.db)
    try:
        notes = await store.read(lambda c: c.execute("SELECT note, status FROM lone_sessions").fetchall())
        alerts = await store.read(lambda c: c.execute("SELECT status, person FROM alerts").fetchall())
        sent = await store.read(lambda c: c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        await store.close()
    assert [tuple(r) for r in notes] == [("home visit Zqkeepme", "live")]
    assert [tuple(r) for r in alerts] == [("open", "alice")] and sent > 0


async def test_the_nightly_purge_leaves_nothing_in_the_files_of_a_running_bot(tmp_path, clock, monkeypatch, db):
    from handlers import retention

    monkeypatch.setattr(retention, "CHECKPOINT_EVERY", 0.02)
    h = await start_engine(db, clock)
    try:
        await _nightly(h)
    finally:
        await h.engine.stop()


async def _nightly(h) -> None:
    from handlers import retention
    from tests.test_report import DAY, _old_incident

    await h.engine.store.run(_old_incident, 0)
    await h.engine.store.run(lambda c: c.execute("UPDATE incidents SET created_at=?, text='Zqnightly marker'",
                                                 (h.clock.now() - 6.1 * 365.25 * DAY,)))
    await h.engine.store.read(retention.checkpoint)  # the marker is in the database file itself now
    assert any(b"Zqnightly" in data for data in _contents(h.db))
    await h.advance(DAY)  # 03:00: the nightly purge
    row = (await h.query("SELECT text FROM incidents"))[0]
    assert row[0] == ""

    async def clean() -> bool:
        return not any(b"Zqnightly" in data for data in await asyncio.to_thread(_contents, h.db))

    for _ in range(100):
        if await clean():
            break
        await asyncio.sleep(0.02)
    flag = await h.query("SELECT * FROM platform_info")
    where = [f.name for f in _files(h.db) if b"Zqnightly" in f.read_bytes()] if isinstance(h.db, Path) else "a table"
    assert await clean(), f"the purged text is still in {where} {[tuple(r) for r in flag]}"
