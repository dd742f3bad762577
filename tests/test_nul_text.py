"""A NUL character in typed text (a pasted string, a broken keyboard app) is dropped at intake.

PostgreSQL text cannot hold NUL: `backup`, `log` and `lone` used to answer "Sorry" and record
nothing there. Runs on SQLite and PostgreSQL (the `harness` fixture).
"""

from __future__ import annotations

from bot.engine import SORRY


async def test_backup_log_and_lone_with_a_nul_are_recorded(harness):
    await harness.say("alice", "backup front\x00 desk, man shouting")
    await harness.say("alice", "log visitor\x00 fell on the stairs")
    await harness.say("alice", "lone 45m home\x00 visit")
    assert SORRY not in harness.texts("alice")
    assert any("Where / what: front desk, man shouting" in t for t in harness.texts("alice") + harness.texts("bob"))
    assert [r[0] for r in await harness.query("SELECT note FROM lone_sessions")] == ["home visit"]
    details = " ".join(str(tuple(r)) for r in await harness.query("SELECT * FROM incidents"))
    assert "visitor fell on the stairs" in details
    assert "\x00" not in details
