"""Erase, subject access and purge reach every copy of a person (issue 26).

Unique markers are planted through the bot (a stub, a full form, an unfinished draft, a manager's note,
a crime reference, a lone-working note, a backup note, a codeword alert, a lockdown naming her, a raw
chat event a standby kept), then the raw database is searched: the SQLite file and its WAL as bytes,
PostgreSQL by COPY of every table. Subject access must find every marker about her; after erase none
of hers is left except in the incident records the dry run says are kept, and why; after a purge past
retention nothing at all is left.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path

from bot import relay_queue as relay
from bot.store import connect
from tests.conftest import start_engine
from tests.test_incidents import fill_form, run_cli

MARK = "Zq{}{:02d}x"
HERS = {n: MARK.format(n.upper(), i) for i, n in enumerate((  # her own words, in her own things and their copies
    "stub", "location", "affected", "happened", "perp", "trigger", "words", "injury", "aid", "crime", "evidence",
    "witness", "actions", "draftstub", "draft", "lone", "backup", "relay"))}
ON_HER_INCIDENT = {"note": "ZqNOTE40x"}  # a manager's note on her incident: part of the incident's record
OTHERS = {"lockdown": "ZqLOCKDOWN41x"}  # a manager's lockdown message that names her: his words, not hers
NAME, PHONES = "alice smith", ("7700 900001", "7700900001")
# the markers that stay in the incident record (the dry run must list both incidents as kept)
IN_RECORDS = {"INC-2026-0001": {k for k in HERS if k not in ("draftstub", "draft", "lone", "backup", "relay")} |
              {"note"}, "INC-2026-0002": {"draftstub"}}

FORM = [
    "2026-11-25 14:20", f"desk {HERS['location']}", "1", "staff", f"Carol {HERS['affected']}",
    f"he shouted {HERS['happened']}", f"red coat {HERS['perp']}", f"fines {HERS['trigger']}",
    f"said {HERS['words']}", f"bruised arm {HERS['injury']}", f"ice pack {HERS['aid']}", "yes",
    f"CR/{HERS['crime']}", f"camera {HERS['evidence']}", f"Jo Bloggs {HERS['witness']}",
    f"walked out {HERS['actions']}", "no", "no",
]
ALL = {**HERS, **ON_HER_INCIDENT, **OTHERS}


def contents(db: Path | str) -> bytes:
    """SQLite: the bytes of the database file and its WAL. PostgreSQL: COPY of every table."""
    if isinstance(db, Path):
        return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    conn = connect(db)
    try:
        out = io.BytesIO()
        tables = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables"
                                             " WHERE table_schema=current_schema()").fetchall()]
        raw = conn._conn  # psycopg: COPY ... TO STDOUT
        for t in tables:
            with raw.cursor().copy(f'COPY "{t}" TO STDOUT') as copy:
                for chunk in copy:
                    out.write(bytes(chunk))
        return out.getvalue()
    finally:
        conn.close()


def found(db: Path | str) -> set[str]:
    data = contents(db)
    return {k for k, m in ALL.items() if m.encode() in data}


def tables_holding(db: Path | str, marker: str) -> set[str]:
    """Which tables hold a marker (read through SQL, to say where a kept marker is)."""
    conn = connect(db)
    try:
        if isinstance(db, Path):
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()]
        else:
            tables = [r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables"
                                                 " WHERE table_schema=current_schema()").fetchall()]
        return {t for t in tables if marker in repr([tuple(r) for r in conn.execute(f"SELECT * FROM {t}").fetchall()])}
    finally:
        conn.close()


def names_her(db: Path | str) -> list[str]:
    data = contents(db).lower()
    return [s for s in (NAME, *PHONES) if s.encode() in data]


async def plant(h) -> None:
    await h.say("alice", f"log man shouted {HERS['stub']}")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice", FORM)
    await h.say("bob", "incident INC-2026-0001")  # the whole form goes out to a reading manager
    assert HERS["perp"] in h.last("bob").text
    await h.say("bob", f"incident INC-2026-0001 note spoke to Alice Smith {ON_HER_INCIDENT['note']}")
    await h.say("alice", f"log pushed at the lifts {HERS['draftstub']}")
    await h.press("alice", "Complete form")
    await h.say("alice", "2026-11-25 14:25")
    await h.say("alice", f"lifts {HERS['draft']}")  # an unfinished form: a draft
    await h.say("alice", "cancel")
    await h.say("alice", f"lone 45m home visit {HERS['lone']}")
    await h.say("alice", "finish")
    await h.say("carol", "on shift")
    await h.say("alice", f"backup front desk {HERS['backup']}")
    await h.press("carol", "On my way")  # "Carol Jones is on her way"; Carol's card names Alice
    await h.say("alice", "stand down")
    await h.say("alice", "Is Mr Brown in today?")  # a codeword alert: its timeline names her
    await h.press("bob", "Resolve")
    await h.say("alice", "on shift")
    await h.say("bob", f"lockdown central intruder {OTHERS['lockdown']}, Alice Smith is in the office")
    await h.press("alice", "I'm safe")
    await h.say("bob", "all clear")
    update = {"update_id": 9, "message": {"message_id": 3, "date": 1, "chat": {"id": 777, "type": "private"},
                                          "from": {"id": 777, "first_name": "Alice", "last_name": "Smith"},
                                          "text": f"help {HERS['relay']}"}}

    def stuck(conn) -> None:  # a chat event a standby stored that could never be handed over
        relay.put(conn, "telegram:9", "telegram", json.dumps(update), {}, h.clock.now())
        rid = conn.execute("SELECT id FROM relay").fetchone()[0]
        while not relay.failed(conn, rid, "no such chat", h.clock.now()):
            pass

    await h.engine.store.run(stuck)


async def test_markers_through_subject_access_erase_and_purge(db, clock, monkeypatch, tmp_path, capsys):
    h = await start_engine(db, clock)
    try:
        await plant(h)
    finally:
        await h.engine.stop()
    assert set(ALL) - found(db) == set(), "a marker was not stored: the scenario is wrong, not the bot"

    # subject access: every marker about her is in the export, with a contents page and retentions
    out = tmp_path / "alice.json"
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "subject-access", "alice", "--out", str(out)) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    text = json.dumps(doc, ensure_ascii=False)
    assert {k for k, m in ALL.items() if m not in text} == set()
    assert [c["section"] for c in doc["contents"]] == [s["section"] for s in doc["sections"]]
    assert all(c["retention"] for c in doc["contents"])
    titles = " | ".join(c["section"] for c in doc["contents"])
    assert "drafts" in titles and "Notes on incidents" in titles and "Messages sent to them, or naming them" in titles
    by_text = [m for s in doc["sections"] for m in s["matched_by_text"]]
    assert any("'Alice Smith'" in m for m in by_text)  # an officer can see what was matched by text

    await erase_and_check(db, monkeypatch, capsys)

    # purge past retention: nothing at all is left (the lockdown's information card too)
    monkeypatch.setenv("SAFERBOT_RETENTION_YEARS", "0")
    monkeypatch.setenv("SAFERBOT_OUTBOX_RETENTION", "1m")
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "purge") == 0
    assert found(db) == set(), f"markers left after purge: {sorted(found(db))}"


async def erase_and_check(db, monkeypatch, capsys) -> None:
    """She leaves; the dry run lists what stays and why; then nothing of hers is left anywhere else."""
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "roster", "remove", "alice") == 0
    before = found(db)
    capsys.readouterr()
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "erase", "alice", "--dry-run") == 0
    plan = capsys.readouterr().out
    assert found(db) == before  # a dry run changes nothing
    kept = plan.split("Kept, and why:")[1] if "Kept, and why:" in plan else ""
    assert all(ref in kept for ref in IN_RECORDS), plan
    assert "record of the incident" in kept
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "erase", "alice") == 0
    capsys.readouterr()
    may_stay = set().union(*IN_RECORDS.values())
    assert set(OTHERS) <= found(db), "a manager's own words were erased with hers"
    left = found(db) - set(OTHERS)
    assert left <= may_stay, f"markers left after erase that the dry run did not keep: {sorted(left - may_stay)}"
    where = {k: tables_holding(db, ALL[k]) for k in left}
    assert all(t <= {"incidents", "incident_notes"} for t in where.values()), where
    assert names_her(db) == [], "her name or phone number is still in the database"
    conn = connect(db)
    try:  # the console's chat id for her is her key: no message row still says where she can be reached
        assert conn.execute("SELECT COUNT(*) FROM outbox WHERE chat_id='alice' OR user_id='alice'").fetchone()[0] == 0
    finally:
        conn.close()



async def test_purge_past_retention_leaves_no_marker_anywhere(db, clock, monkeypatch):
    """Without an erase first: every copy (cards, relayed events, drafts, timelines) goes with its record."""
    h = await start_engine(db, clock)
    try:
        await plant(h)
    finally:
        await h.engine.stop()
    monkeypatch.setenv("SAFERBOT_RETENTION_YEARS", "0")
    monkeypatch.setenv("SAFERBOT_OUTBOX_RETENTION", "1m")
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "purge") == 0
    assert found(db) == set(), f"markers left after purge: {sorted(found(db))}"
    assert names_her(db) == []


async def test_purge_takes_the_lockdown_information_card(db, clock, monkeypatch):
    h = await start_engine(db, clock)
    try:
        await h.say("bob", f"lockdown central intruder {OTHERS['lockdown']}")
        await h.say("bob", "all clear")
        cards = [r[0] for r in await h.query("SELECT key FROM cards WHERE text LIKE ?", f"%{OTHERS['lockdown']}%")]
        assert "lockdown:1:info" in cards
    finally:
        await h.engine.stop()
    monkeypatch.setenv("SAFERBOT_RETENTION_YEARS", "0")
    assert await asyncio.to_thread(run_cli, monkeypatch, db, "purge") == 0
    conn = connect(db)
    try:
        left = [r[0] for r in conn.execute("SELECT key FROM cards WHERE key LIKE 'lockdown%' OR key LIKE 'rollcall%'")]
    finally:
        conn.close()
    assert left == []


def test_names_match_whole_words_only():
    from bot.personal_data import Subject, matches, scrub

    al = Subject("al", ("Al",), ("+44 7700 900009",))
    assert matches(al, "Alan and Sally met at the Albert Hall") == []  # no name inside a longer word
    assert matches(al, "Al said so; AL again") == ["AL", "Al"]
    assert scrub(al, "call Al on 07700 900009 or +447700900009") == "call [erased] on [erased] or [erased]"
    assert json.loads(scrub(al, json.dumps({"who": "Al", "n": 1}))) == {"who": "[erased]", "n": 1}
    assert re.fullmatch(r"\[erased\]", scrub(al, "Al"))
