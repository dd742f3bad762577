"""The lone-working sweep, when it is behind: a missed check-in's escalation goes before other workers'
reminders. Each sweep steps a batch of due sessions; with more due than a batch, the rest wait for the next
sweep, and under load (bench/lone_timers.py) that wait was seconds. An alarm never waits behind routine."""

from __future__ import annotations

from handlers import lone_session


async def test_an_overdue_escalation_is_stepped_before_reminders_that_fell_due_earlier(harness, monkeypatch):
    monkeypatch.setattr(lone_session, "SWEEP_BATCH", 1)  # one session a sweep: the order shows
    await harness.say("alice", "lone 30m closing up")
    await harness.advance(30 * 60)  # her deadline: "Are you OK?", escalation due 5 min later
    assert "Are you OK?" in harness.last("alice").text
    for who in ("carol", "erin"):  # their reminders fall due 4 min from now, before Alice's escalation
        await harness.say(who, "lone 9m home visit")
    before = (await harness.query("SELECT MAX(id) FROM outbox"))[0][0]

    await harness.advance(5 * 60)  # all three are due at once

    rows = await harness.query("SELECT person, tag FROM outbox WHERE id>? AND kind='send' ORDER BY id", before)
    order = [(r[0], r[1]) for r in rows]
    assert ("bob", "notify") in order and ("carol", "lone") in order and ("erin", "lone") in order, order
    assert order.index(("bob", "notify")) < order.index(("carol", "lone")), order
    assert order.index(("bob", "notify")) < order.index(("erin", "lone")), order
    assert "duty manager" in harness.last("alice").text
