"""Lone-working deadlines that fall within milliseconds of each other (bench/lone_timers.py's load):
each session still gets its reminder, its "Are you OK?" and exactly one escalation, whichever
sweep steps it. The sweep waits a few milliseconds after stepping sessions before it runs again
(so close deadlines share a transaction); these tests check that nothing is lost by that wait."""

from __future__ import annotations

MIN = 60


async def test_deadlines_milliseconds_apart_each_escalate_once(harness):
    await harness.say("alice", "lone 10m shelving")
    await harness.advance(0.004)
    await harness.say("carol", "lone 10m stock check")
    await harness.advance(10 * MIN - 0.003)  # alice's deadline has passed, carol's is 1 ms away
    assert harness.last("alice").text.startswith("Are you OK?")
    await harness.advance(1)  # carol's "Are you OK?" comes by the next sweep
    assert harness.last("carol").text.startswith("Are you OK?")
    await harness.advance(5 * MIN + 1)  # both graces are over
    cards = [d.text for d in harness.sent("bob") if "Missed lone-working check-in" in d.text]
    assert len(cards) == 2
    assert any("Alice" in c for c in cards) and any("Carol" in c for c in cards)
    await harness.advance(30 * MIN)
    assert len([d for d in harness.sent("bob") if "Missed lone-working check-in" in d.text]) == 2


async def test_check_in_between_two_close_deadlines_stops_only_that_session(harness):
    await harness.say("alice", "lone 10m shelving")
    await harness.advance(0.002)
    await harness.say("carol", "lone 10m stock check")
    await harness.advance(10 * MIN)  # both asked "Are you OK?"
    await harness.say("carol", "I'm safe")
    await harness.advance(5 * MIN + 1)
    cards = [d.text for d in harness.sent("bob") if "Missed lone-working check-in" in d.text]
    assert len(cards) == 1 and "Alice" in cards[0]
