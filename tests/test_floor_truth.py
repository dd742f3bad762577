"""Floor truth, end to end (issue 21): a bad afternoon at Central, phone by phone.

A real lockdown and a real evacuation, each with a drill switched on and off in the middle;
Carol stays silent in the lockdown and asks for help in the evacuation; Alice has a welfare
check-in waiting while she types commands; Erin misses a lone-working check-in and Fran
resolves it. What each phone received is asserted, not just what the store holds.
"""

from __future__ import annotations

from tests.test_floor_defects import on_shift
from tests.test_incident_welfare import assault
from tests.test_incidents import fill_form

DAY = 86400


def since(h, who: str, mark: int) -> list[str]:
    """Texts sent to `who` after the first `mark` messages (cards as they were when sent)."""
    return h.texts(who)[mark:]


def marks(h, *people: str) -> dict[str, int]:
    return {p: len(h.texts(p)) for p in people}


async def test_a_bad_afternoon_phone_by_phone(harness):
    h = harness
    # a week ago Alice was pushed at the desk: today her welfare check-in is waiting for an answer
    await h.say("alice", "log man pushed me at the desk")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice", assault(None))
    await h.advance(7 * DAY)
    assert h.last("alice").text.startswith("Hello Alice. It is 1 week since the incident")
    await on_shift(h, "alice", "carol", "vic")

    # --- a real lockdown; a drill is switched on and off in the middle ------------------------------
    m = marks(h, "alice", "carol", "vic", "bob", "dana")
    await h.say("bob", "lockdown central intruder near the children's library")
    await h.say("bob", "drill on")
    assert "A real LOCKDOWN is live at Central Library" in h.last("bob").text
    await h.say("bob", "drill on confirm")
    await h.say("alice", "I'm safe")  # the roll call's answer, not the welfare check-in's
    await h.press("vic", "I'm safe")
    await h.advance(301)  # Carol is silent: escalated
    await h.say("bob", "drill off")
    await h.advance(120)  # the alert about Carol climbs: still never to her
    await h.say("bob", "all clear")

    carol = since(h, "carol", m["carol"])
    assert carol[0].startswith("LOCKDOWN - Central Library\nintruder near the children's library")
    assert "[DRILL] An exercise has started at Central Library" in carol[1]
    assert carol[2] == "LOCKDOWN: we have not heard from you. Are you safe?"  # the one nudge
    assert carol[3] == "The exercise at Central Library is over: everything from now on is real."
    assert carol[4].startswith("ALL CLEAR - Central Library: the lockdown is over")
    assert len(carol) == 5  # nothing about herself, no alert card, no second nudge

    alice = since(h, "alice", m["alice"])
    assert alice[0].startswith("LOCKDOWN - Central Library")
    assert alice[2].startswith("Thank you - you are marked safe")  # not "[DRILL]": the lockdown is real
    noanswer = [t for t in alice if "No answer to the lockdown roll call" in t]
    assert noanswer and noanswer[0].startswith("[HIGH] No answer to the lockdown roll call: Carol Jones")
    assert not any("says: I'm safe" in t for t in h.texts("bob"))  # the welfare answer was not taken

    vic = since(h, "vic", m["vic"])  # a volunteer: asked, never alerted
    assert not any("[HIGH]" in t for t in vic)
    bob = since(h, "bob", m["bob"])
    assert any(t.startswith("[HIGH] No answer to the lockdown roll call: Carol Jones") for t in bob)
    assert any("Never answered: Carol Jones" in t for t in bob)
    stored = await h.query("SELECT drill FROM lockdowns UNION ALL SELECT drill FROM alerts")
    assert [r[0] for r in stored] == [0, 0]

    # --- the welfare check-in still waits; Alice types commands ---------------------------------
    m = marks(h, "alice", "bob")
    await h.say("alice", "log back door was forced during the lockdown")
    assert h.last("alice").text.startswith("Logged as INC-2026-")
    await h.say("alice", "status")
    assert "lone" in h.last("alice").text.lower()
    await h.say("alice", "Tired, but OK")
    assert "as your answer to the 1 week check-in after INC-2026-0001" in h.last("alice").text
    told = [t for t in since(h, "bob", m["bob"]) if "Welfare check-in" in t]
    assert len(told) == 1 and "Alice Smith says: Tired, but OK" in told[0]

    # --- a real evacuation; the admin starts a drill anyway and stops it ---------------------------
    m = marks(h, "alice", "carol", "bob", "dana")
    await h.say("dana", "evacuate central fire in the basement")
    await h.say("dana", "drill on central")
    await h.press("dana", "Start the drill anyway")
    assert "The real EVACUATION at Central Library" in h.last("dana").text
    await h.say("carol", "I need help")
    await h.say("dana", "drill off central")
    await h.press("alice", "I'm safe")
    await h.press("bob", "I'm safe")
    await h.advance(301)
    await h.say("dana", "all clear central")

    carol = since(h, "carol", m["carol"])
    assert carol[0].startswith("EVACUATION - Central Library\nfire in the basement")
    assert any(t.startswith("Help is being sent to you now") for t in carol)  # real: no [DRILL]
    assert not any("Needs help during the evacuation" in t for t in carol)  # the alert about her
    alice = since(h, "alice", m["alice"])
    helpcard = [t for t in alice if "Needs help during the evacuation" in t]
    assert helpcard and helpcard[0].startswith("[HIGH] Needs help during the evacuation")
    drills = await h.query("SELECT title, drill FROM alerts WHERE kind='lockdown' ORDER BY id")
    assert [tuple(r) for r in drills] == [("No answer to the lockdown roll call: Carol Jones", 0),
                                          ("Needs help during the evacuation", 0),
                                          ("No answer to the evacuation roll call: Vic Patel", 0)]

    # --- Erin misses a lone check-in; Fran resolves it -----------------------------------------
    m = marks(h, "erin", "fran")
    await h.say("erin", "lone 20m closing up")
    await h.advance(20 * 60 + 301)
    assert any(t.startswith("[HIGH] Missed lone-working check-in") for t in since(h, "fran", m["fran"]))
    await h.press("fran", "Resolve")
    erin = since(h, "erin", m["erin"])
    assert not any("[HIGH]" in t for t in erin)  # the alert about her never reached her
    assert any(t.startswith("Fran Okafor has closed your lone-working session") for t in erin)
    assert any("please complete the record INC-2026-" in t for t in erin)
    assert not any("has been logged as" in t for t in since(h, "fran", m["fran"]))
