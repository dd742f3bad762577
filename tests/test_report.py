"""The monthly report (chat and command line, with a PNG chart) and retention purge."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.test_incidents import fill_form, run_cli

DAY = 86400
PNG = b"\x89PNG\r\n\x1a\n"


async def test_report_month_in_chat_counts_and_attaches_a_chart(harness):
    h = harness
    await h.say("alice", "log shouting at the enquiry desk")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice")
    await h.say("erin", "log graffiti in the toilets")  # Riverside: not in Bob's report
    await h.engine.store.run(lambda c: c.execute("INSERT INTO drills(branch, since) VALUES('central', 0)"))
    await h.say("carol", "log practice run")  # a drill: counted apart

    await h.say("vic", "report month")
    assert "not something your role can do" in h.last("vic").text
    await h.say("fran", "report month")  # Riverside's manager: Riverside only
    assert "Incidents: 1" in h.last("fran").text and "Central" not in h.last("fran").text
    await h.say("bob", "report month")  # Central, and Riverside which he covers at weekends
    out = h.last("bob")
    assert out.text.startswith("Incident report November 2026 - Central Library, Riverside Library")
    assert "Incidents: 2 (plus 1 drill(s), not counted)" in out.text
    assert "Central Library: 1" in out.text and "Riverside Library: 1" in out.text
    assert "verbal abuse: 1" in out.text and "(form not complete): 1" in out.text
    assert "By weekday: Wed 2" in out.text and "14:00-14:59 2" in out.text
    assert "Forms completed: 1, typically" in out.text and "still incomplete: 1" in out.text
    assert out.attachment and Path(out.attachment).read_bytes()[:8] == PNG

    await h.say("dana", "report month 2026-11")  # admins: every branch
    assert "Incidents: 2" in h.last("dana").text and "Riverside Library: 1" in h.last("dana").text
    await h.say("dana", "report month last")
    assert "October 2026" in h.last("dana").text and "Nothing recorded" in h.last("dana").text
    assert h.last("dana").attachment is None
    await h.say("dana", "report month 2026-13")
    assert "Give the month like 2026-10" in h.last("dana").text


async def test_report_on_the_command_line(harness, monkeypatch, tmp_path, capsys):
    h = harness
    await h.say("alice", "log shouting")
    await h.say("erin", "log graffiti")
    chart = tmp_path / "nov.png"
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "report", "--month", "2026-11", "--chart", str(chart))
    assert code == 0
    printed = capsys.readouterr().out
    assert "Incidents: 2" in printed and "Riverside Library: 1" in printed and "still incomplete: 2" in printed
    assert chart.read_bytes()[:8] == PNG


def _old_incident(conn, years: float) -> None:
    at = time.time() - years * 365.25 * DAY
    conn.execute("INSERT INTO incidents(ref, year, seq, reporter, branch, created_at, text, status, answers, category)"
                 " VALUES('INC-2019-0001', 2019, 1, 'alice', 'central', ?, 'man in red coat shouted',"
                 " 'reviewed', '{\"category\": \"threat\", \"words_used\": \"you will regret it\"}', 'threat')",
                 (at,))
    conn.execute("INSERT INTO incident_notes(incident_id, at, author, text) VALUES(1, ?, 'bob', 'banned')", (at,))


async def test_purge_dry_run_then_anonymise_on_the_command_line(tmp_path, monkeypatch, capsys):
    from bot.store import Store

    db = tmp_path / "saferbot.db"
    store = await Store.open(db)
    await store.run(_old_incident, 7)
    await store.run(lambda c: c.execute(
        "INSERT INTO incidents(ref, year, seq, reporter, branch, created_at, text) VALUES('INC-2026-0001', 2026, 1,"
        " 'alice', 'central', ?, 'recent')", (time.time() - DAY,)))
    await store.close()

    await asyncio.to_thread(run_cli, monkeypatch, db, "purge", "--dry-run")
    printed = capsys.readouterr().out
    assert "would be anonymised: 1" in printed and "INC-2019-0001" in printed and "INC-2026-0001" not in printed

    store = await Store.open(db)
    rows = await store.read(lambda c: c.execute("SELECT reporter, text FROM incidents ORDER BY id").fetchall())
    assert tuple(rows[0]) == ("alice", "man in red coat shouted")  # a dry run changes nothing
    await store.close()

    await asyncio.to_thread(run_cli, monkeypatch, db, "purge")
    assert "were anonymised: 1" in capsys.readouterr().out
    store = await Store.open(db)
    rows = await store.read(lambda c: c.execute("SELECT reporter, text, answers, category, anonymised_at"
                                                " FROM incidents ORDER BY id").fetchall())
    notes = await store.read(lambda c: c.execute("SELECT COUNT(*) FROM incident_notes").fetchone()[0])
    await store.close()
    old, recent = rows
    assert old[0] is None and old[1] == "" and "regret" not in old[2] and old[3] == "threat" and old[4]
    assert recent[1] == "recent" and notes == 0

    await asyncio.to_thread(run_cli, monkeypatch, db, "purge", "--delete")
    assert "were deleted: 1" in capsys.readouterr().out


async def test_the_bot_purges_daily(harness):
    h = harness
    pending = await h.query("SELECT due_at FROM wakeups WHERE kind='incident.purge' AND status='pending'")
    assert len(pending) == 1  # scheduled at start-up
    await h.engine.store.run(_old_incident, 0)
    await h.engine.store.run(lambda c: c.execute("UPDATE incidents SET created_at=? WHERE id=1",
                                                 (h.clock.now() - 6.1 * 365.25 * DAY,)))
    await h.advance(DAY)
    row = (await h.query("SELECT reporter, text, anonymised_at FROM incidents"))[0]
    assert row[0] is None and row[1] == "" and row[2] is not None
    await h.say("dana", "incident INC-2019-0001")
    assert "Anonymised on" in h.last("dana").text and "red coat" not in h.last("dana").text
    assert len(await h.query("SELECT 1 FROM wakeups WHERE kind='incident.purge' AND status='pending'")) == 1
