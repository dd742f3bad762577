"""Subject access and erasure on the command line, and the map of person columns kept complete."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3

from handlers.privacy import PERSON_COLUMNS
from tests.test_incidents import ANSWERS, fill_form, run_cli

WITNESSED = ANSWERS[:14] + ["Alice Smith saw it from the desk"] + ANSWERS[15:]


def section(doc: dict, title: str) -> list[dict]:
    """The rows of the export's section whose title starts with `title`."""
    return [r for s in doc["sections"] if s["section"].startswith(title) for r in s["rows"]]


async def test_subject_access_exports_everything_naming_a_person_and_is_audited(harness, monkeypatch, tmp_path,
                                                                                 capsys):
    h = harness
    await h.say("alice", "log man shouted at me")
    await h.say("carol", "log pushed by the lifts")
    await h.press("carol", "Complete form")
    await fill_form(h, "carol", WITNESSED)  # Alice is a witness in Carol's report
    await h.say("alice", "lone 45m home visit 12 High St")
    await h.say("erin", "log unrelated at riverside")
    out = tmp_path / "alice.json"
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "subject-access", "Alice Smith", "--out", str(out))
    assert code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    parts = {i["ref"]: i["their_part"] for i in section(doc, "Incidents")}
    assert parts == {"INC-2026-0001": "reporter", "INC-2026-0002": "witness"}
    assert [s["note"] for s in section(doc, "Lone-working sessions")] == ["home visit 12 High St"]
    assert any("INC-2026-0001" in m["text"] for m in section(doc, "Messages sent to them"))
    audit = await h.query("SELECT ref, action FROM incident_audit WHERE action='subject-access' ORDER BY id")
    assert ("person:alice", "subject-access") in [tuple(r) for r in audit] and len(audit) == 3

    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "subject-access", "alice", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
    assert {"contents", "Lone-working sessions"} <= {r["section"] for r in rows}


async def test_erase_dry_run_then_erase_after_the_person_has_left(harness, monkeypatch, capsys):
    h = harness
    await h.say("alice", "log man shouted at me")
    await h.say("alice", "lone 45m home visit 12 High St")
    await h.say("alice", "finish")
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "alice", "--dry-run") == 0
    plan = capsys.readouterr().out
    assert "Dry run" in plan and "incidents: would anonymise 1 row(s)" in plan and "lone_sessions: would clear" in plan
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "alice") == 1  # still on the roster
    assert "remove them first" in capsys.readouterr().err
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "roster", "remove", "alice") == 0
    assert await asyncio.to_thread(run_cli, monkeypatch, h.db, "erase", "alice") == 0
    assert "alice~1: incidents: did anonymise 1 row(s) by reporter" in capsys.readouterr().out
    inc = (await h.query("SELECT reporter FROM incidents"))[0]
    lone = (await h.query("SELECT note, person FROM lone_sessions"))[0]
    assert inc[0] is None and tuple(lone) == ("", "")
    assert await h.query("SELECT 1 FROM incident_audit WHERE action='erase'")


def test_every_column_that_holds_a_person_key_is_mapped(tmp_path):
    """A new table with a person column must join PERSON_COLUMNS (retention, access, erasure, leavers)."""
    from bot.store import migrate

    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    migrate(conn)
    keyish = {"person", "reporter", "author", "actor", "by", "acked_by", "resolved_by", "reviewed_by", "done_by",
              "ended_by", "reader", "created_by"}
    missing = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
        for col in (r[1] for r in conn.execute(f"PRAGMA table_info({table})")):
            if col in keyish and col not in PERSON_COLUMNS.get(table, ()):
                missing.append(f"{table}.{col}")
    assert missing == []
