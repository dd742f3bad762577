"""Lockdown / evacuation: the message, the live roll call, need help, no answer, all clear, drill."""

from __future__ import annotations

from tests.test_backup import buttons, card


async def on_shift(harness, *people):
    for p in people:
        await harness.say(p, "on shift")


async def test_lockdown_mixed_answers_and_a_non_responder_is_escalated(harness):
    await on_shift(harness, "alice", "carol", "vic", "erin")
    await harness.say("bob", "lockdown central intruder near the children's library")

    for p in ("alice", "carol", "vic"):
        c = harness.last(p)
        assert c.text.startswith("LOCKDOWN - Central Library\nintruder near the children's library\nFrom Bob Green")
        assert [b.label for b in c.buttons] == ["I'm safe", "I need help"]
    assert harness.texts("erin") == ["You are on shift at Riverside Library."]  # out of scope
    roll = card(harness, "bob", "Roll call")
    assert "Safe (0): -" in roll and "No answer (3): Alice Smith, Carol Jones, Vic Patel" in roll
    assert "Sent to 3 on shift" in harness.last("bob").text

    await harness.press("alice", "I'm safe")
    assert harness.last("alice").text.startswith("Thank you - you are marked safe")
    roll = card(harness, "bob", "Roll call")
    assert "Safe (1): Alice Smith" in roll and "No answer (2): Carol Jones, Vic Patel" in roll

    await harness.say("carol", "I need help")  # typed, not a button
    roll = card(harness, "bob", "Roll call")
    assert "Need help (1): Carol Jones (alert #1)" in roll and "No answer (1): Vic Patel" in roll
    alert = await harness.query("SELECT kind, severity, person, title FROM alerts WHERE id=1")
    assert tuple(alert[0]) == ("lockdown", "high", "carol", "Needs help during the lockdown")
    assert any("Needs help during the lockdown" in t for t in harness.texts("alice"))  # on shift: tier 1
    assert "Help is being sent" in harness.last("carol").text

    await harness.advance(299)
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 1
    await harness.advance(2)  # rollcall_wait: 5 minutes
    noanswer = await harness.query("SELECT title, branch FROM alerts WHERE id=2")
    assert tuple(noanswer[0]) == ("No answer to the lockdown roll call: Vic Patel", "central")
    assert "No answer to the lockdown roll call: Vic Patel" in harness.last("alice").text
    assert harness.last("vic").text == "LOCKDOWN: we have not heard from you. Are you safe?"
    assert "No answer (1): Vic Patel - escalated" in card(harness, "bob", "Roll call")

    await harness.press("vic", "I'm safe")  # a late answer settles the no-answer alert
    assert (await harness.query("SELECT status FROM alerts WHERE id=2"))[0][0] == "resolved"
    assert "Safe (2): Alice Smith, Vic Patel" in card(harness, "bob", "Roll call")

    await harness.say("bob", "all clear")
    assert "All clear sent for the lockdown at Central Library. Still to check: Carol Jones asked for help" \
        in harness.last("bob").text
    for p in ("alice", "carol", "vic"):
        assert harness.last(p).text.startswith("ALL CLEAR - Central Library: the lockdown is over (Bob Green")
        assert buttons(harness, p, "LOCKDOWN - Central") == []
    assert "ALL CLEAR given at" in card(harness, "bob", "Roll call")
    assert (await harness.query("SELECT status FROM alerts WHERE id=1"))[0][0] == "open"  # Carol still needs help
    before = len(harness.transport.records)
    await harness.advance(300)
    assert all(r.delivery.chat_id not in ("vic",) for r in harness.transport.records[before:])


async def test_evacuate_area_and_safe_after_help_resolves_the_alert(harness):
    await on_shift(harness, "alice", "erin")
    await harness.say("dana", "evacuate north fire alarm in the basement")
    assert harness.last("alice").text.startswith("EVACUATION - the north area\nfire alarm in the basement")
    assert harness.texts("erin") == ["You are on shift at Riverside Library."]
    assert "EVACUATION - the north area" in harness.last("bob").text  # the duty manager there is asked too
    await harness.press("alice", "I need help")
    await harness.press("alice", "I'm safe")
    assert (await harness.query("SELECT status FROM alerts WHERE id=1"))[0][0] == "resolved"
    assert "Safe (1): Alice Smith" in card(harness, "dana", "Roll call")


async def test_lockdown_needs_a_scope(harness):
    await harness.say("bob", "lockdown")
    assert harness.last("bob").text.startswith("Say where first: lockdown <central | riverside | north | south | all>")
    await harness.say("bob", "lockdown centrl intruder")
    assert harness.last("bob").text.startswith("Say where first")
    assert (await harness.query("SELECT COUNT(*) FROM lockdowns"))[0][0] == 0


async def test_drill_marks_lockdown_alerts_and_drill_off(harness):
    await on_shift(harness, "alice")
    await harness.say("bob", "drill on")
    assert harness.last("bob").text.startswith("[DRILL] Drill mode ON at Central Library")
    assert harness.last("alice").text.startswith("[DRILL] An exercise has started at Central Library")
    await harness.say("bob", "lockdown central practice")
    c = harness.last("alice").text
    assert c.startswith("[DRILL] LOCKDOWN - Central Library\nThis is an exercise.")
    assert card(harness, "bob", "Roll call").startswith("[DRILL] Roll call")
    await harness.press("alice", "I need help")
    assert harness.last("alice").text.startswith("[DRILL] Help is being sent")
    assert any(t.startswith("[DRILL] [HIGH] Needs help during the lockdown") for t in harness.texts("bob"))
    assert (await harness.query("SELECT drill FROM alerts WHERE id=1"))[0][0] == 1
    assert (await harness.query("SELECT drill FROM lockdowns WHERE id=1"))[0][0] == 1
    await harness.say("bob", "allclear")
    assert harness.last("alice").text.startswith("[DRILL] ALL CLEAR")

    await harness.say("bob", "drill off")
    assert harness.last("bob").text == "Drill mode OFF at Central Library: everything raised there is real again."
    await harness.say("alice", "Is Mr Brown in today?")
    assert (await harness.query("SELECT drill FROM alerts WHERE id=2"))[0][0] == 0
    assert not harness.last("bob").text.startswith("[DRILL]")


async def test_drill_marks_codeword_alerts_and_managers_only_at_own_branch(harness):
    await harness.say("fran", "drill on central")
    assert harness.last("fran").text.startswith("You can start or stop a drill at Riverside Library (your branches")
    await harness.say("dana", "drill on central")
    await harness.say("dana", "drill")
    assert harness.last("dana").text.startswith("In drill mode: Central Library since 14:30")
    await harness.say("alice", "Is Mr Brown in today?")
    assert harness.last("bob").text.startswith("[DRILL] [HIGH]")


async def test_roll_call_wait_survives_a_restart(tmp_path, clock, db):
    from tests.conftest import start_engine

    h = await start_engine(db, clock)
    await h.say("alice", "on shift")
    await h.say("bob", "evacuate central")
    assert h.last("alice").text.startswith("EVACUATION - Central Library\nEvacuate now: leave by the nearest safe exit")
    await h.engine.stop()
    h = await start_engine(db, clock)
    try:
        await h.advance(301)
        assert h.last("alice").text == "EVACUATION: we have not heard from you. Are you safe?"
        rows = await h.query("SELECT title FROM alerts")
        assert [r[0] for r in rows] == ["No answer to the evacuation roll call: Alice Smith"]
        await h.say("alice", action="lockdown.safe", arg="1", event_id="after-restart")  # fresh transport ids
        assert h.last("alice").text.startswith("Thank you - you are marked safe. Stay at the assembly point")
    finally:
        await h.engine.stop()


async def test_typed_need_help_mid_form_reaches_the_roll_call(harness):
    await on_shift(harness, "alice")
    await harness.say("alice", "log man shouting")
    await harness.press("alice", "Complete form")  # an incident form now waits for a typed answer
    await harness.say("bob", "lockdown central intruder")
    await harness.say("alice", "I need help")
    assert "Need help (1): Alice Smith (alert #1)" in card(harness, "bob", "Roll call")
    assert harness.last("alice").text.startswith("Help is being sent")
