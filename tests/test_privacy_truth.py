"""RIDDOR and lists tell the truth; the command line audits the real OS user."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import time

from tests.conftest import AFTERNOON
from tests.test_incidents import ANSWERS, fill_form, run_cli

DAY = 24 * 3600


async def test_a_late_riddor_flag_reminds_at_once_and_promises_nothing_false(harness):
    h = harness
    await h.say("alice", "log visitor fell on the stairs after being shoved")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice")  # happened 14:20 today
    await h.advance(11 * DAY)  # flagged late: the 5-days-before point (day 10) has passed
    await h.say("bob", "incident INC-2026-0001 riddor")
    reply = h.texts("bob")
    assert not any("I'll remind you 5 days" in t for t in reply), reply[-1]
    assert any("must be reported to the HSE by Thu 10 Dec 2026 (4 day(s) left)" in t for t in reply), reply[-3:]
    await h.advance(3 * DAY)  # the 1-day-before reminder still comes
    assert "(1 day(s) left)" in h.last("bob").text


async def test_a_riddor_flag_after_the_deadline_says_it_is_overdue(harness):
    h = harness
    await h.say("alice", "log visitor fell on the stairs")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice")
    await h.advance(20 * DAY)
    await h.say("bob", "incident INC-2026-0001 riddor")
    assert any("overdue" in t for t in h.texts("bob")[-2:]), h.texts("bob")[-2:]


async def test_unreviewed_lists_stubs_too(harness):
    h = harness
    await h.say("alice", "log shouting at the desk")  # a stub: nobody has reviewed it either
    await h.say("carol", "log pushed by the lifts")
    await h.press("carol", "Complete form")
    await fill_form(h, "carol", ANSWERS)
    await h.say("bob", "incidents unreviewed")
    text = h.last("bob").text
    assert "INC-2026-0001" in text and "INC-2026-0002" in text
    home = " ".join(await h.engine.home(h.engine.directory.person("bob")))
    assert "2 incident(s) waiting for your review (1 still without a full form)" in home


async def test_purge_dry_run_names_the_real_cutoff(tmp_path, monkeypatch, capsys):
    """With retention 0 the dry run must not list an incident logged today as 'before today'."""
    from bot.store import Store

    db = tmp_path / "saferbot.db"
    store = await Store.open(db)
    await store.run(lambda c: c.execute(
        "INSERT INTO incidents(ref, year, seq, reporter, branch, created_at, text) VALUES('INC-2026-0009', 2026, 9,"
        " 'alice', 'central', ?, 'logged a moment ago')", (time.time() - 60,)))
    await store.close()
    monkeypatch.setenv("SAFERBOT_RETENTION_YEARS", "0")
    await asyncio.to_thread(run_cli, monkeypatch, db, "purge", "--dry-run")
    printed = capsys.readouterr().out
    head = printed.splitlines()[0]
    # either the incident is not listed, or the cut-off shown is after it was logged (a time, not just a date)
    assert "INC-2026-0009" not in printed or re.search(r"before \d{4}-\d\d-\d\d \d\d:\d\d", head), printed


async def test_cli_audit_records_the_os_user_not_the_environment(harness, monkeypatch, tmp_path):
    h = harness
    await h.say("alice", "log shouted at")
    real = pwd.getpwuid(os.getuid()).pw_name
    monkeypatch.setenv("LOGNAME", "dana")
    monkeypatch.setenv("USER", "dana")
    monkeypatch.setenv("LNAME", "dana")
    monkeypatch.setenv("USERNAME", "dana")
    await asyncio.to_thread(run_cli, monkeypatch, h.db, "export", "incidents", "--from", "2026-11-01",
                            "--to", "2026-11-30", "--out", str(tmp_path / "x.csv"))
    readers = [r[0] for r in await h.query("SELECT reader FROM incident_audit WHERE action='export'")]
    assert readers == [f"cli:{real}"], readers
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "roster", "set", "vic", "phone=+44 7700 900099")
    assert code == 0
    by = [r[0] for r in await h.query("SELECT by FROM roster_audit")]
    assert by == [f"cli:{real}"], by
    assert AFTERNOON  # the harness clock: a Wednesday afternoon
