"""Backup requests: who is asked, who is coming, the climb when nobody comes, standing down."""

from __future__ import annotations

import re

FORBIDDEN = re.compile(r"\b(backup|alert|alarm|police)\b", re.IGNORECASE)


def card(harness, who: str, marker: str) -> str:
    """The current text (edits applied) of the newest message to `who` that contained `marker` when sent."""
    recs = harness.transport.records
    for rec in reversed(recs):
        d = rec.delivery
        if d.chat_id == who and d.kind == "send" and marker in d.text:
            edits = [r.delivery for r in recs if r.delivery.kind == "edit" and r.ref == rec.ref and
                     r.delivery.chat_id == who]
            return (edits[-1] if edits else d).text
    raise AssertionError(f"{who} never got a message with {marker!r}")


def buttons(harness, who: str, marker: str) -> list[str]:
    recs = harness.transport.records
    for rec in reversed(recs):
        d = rec.delivery
        if d.chat_id == who and d.kind == "send" and marker in d.text:
            edits = [r.delivery for r in recs if r.delivery.kind == "edit" and r.ref == rec.ref and
                     r.delivery.chat_id == who]
            return [b.label for b in (edits[-1] if edits else d).buttons]
    raise AssertionError(f"{who} never got a message with {marker!r}")


async def on_shift(harness, *people):
    for p in people:
        await harness.say(p, "on shift")


async def test_two_responders_and_one_decline(harness):
    await on_shift(harness, "carol", "vic")
    await harness.say("dana", "cover central until 18:00")  # a second manager on duty for Central
    await harness.say("alice", "backup front desk, man shouting")

    for p in ("carol", "dana"):
        c = harness.last(p)
        assert c.text.startswith("BACKUP WANTED: Alice Smith (+44 7700 900001) at Central Library")
        assert "Where / what: front desk, man shouting" in c.text
        assert [b.label for b in c.buttons] == ["On my way", "Can't come"]
    assert harness.texts("vic") == ["You are on shift at Central Library."]  # volunteers are not asked
    assert harness.sent("bob") == []  # covered for: not the duty manager now, not on shift
    mine = harness.last("alice")
    assert "Backup asked for at 14:30 from Carol Jones, Dana Hughes." in mine.text
    assert "On the way: nobody yet." in mine.text

    await harness.press("carol", "On my way")
    await harness.press("dana", "Can't come")
    mine = card(harness, "alice", "Backup asked for")
    assert "On the way: Carol Jones" in mine
    assert "Dana" not in mine.split("On the way:")[1]  # declines are not shown to her
    assert "On the way: Carol Jones" in card(harness, "dana", "BACKUP WANTED")
    assert "Can't come: Dana Hughes" in card(harness, "carol", "BACKUP WANTED")
    assert harness.last("carol").text == "Thanks. Alice Smith can see you are on your way."

    await harness.advance(600)  # somebody is coming: nothing climbs
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 0

    await harness.say("alice", "I'm fine")
    assert harness.last("alice").text == "Okay - everyone has been stood down."
    for p in ("carol", "dana"):
        assert "Stood down at 14:40: no longer needed" in card(harness, p, "BACKUP WANTED")
        assert buttons(harness, p, "BACKUP WANTED") == []


async def test_two_say_on_my_way(harness):
    await on_shift(harness, "carol")
    await harness.say("alice", "backup")
    await harness.press("carol", "On my way")
    await harness.press("bob", "On my way")
    assert "On the way: Carol Jones, Bob Green" in card(harness, "alice", "Backup asked for")


async def test_nobody_answers_climbs_the_ladder_and_stand_down_resolves(harness):
    await on_shift(harness, "carol")
    await harness.say("alice", "backup in the stacks")
    await harness.advance(119)
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 0
    await harness.advance(2)  # backup_wait is 2 minutes
    assert "Backup wanted - nobody on the way" in harness.last("bob").text
    assert "Where / what: in the stacks" in harness.last("bob").text
    assert "Nobody answered in time" in card(harness, "alice", "Backup asked for")
    await harness.advance(180)  # the urgent ladder climbs to the admins
    assert "Backup wanted - nobody on the way" in harness.last("dana").text

    await harness.press("alice", "I'm fine")
    assert "Okay - everyone has been stood down." in harness.texts("alice")
    assert "Resolved by Alice Smith" in harness.seen("dana").text
    assert "Backup stood down at 14:35" in card(harness, "alice", "Backup asked for")
    kinds = [r[0] for r in await harness.query("SELECT kind FROM alert_events WHERE alert_id=1 ORDER BY id")]
    assert kinds[0] == "raised" and "backup" in kinds and kinds[-1] == "resolved"
    assert "confirmed" not in kinds  # she stood it down herself: no "someone is coming" message
    before = len(harness.transport.records)
    await harness.advance(3600)
    assert len(harness.transport.records) == before


async def test_late_on_my_way_acknowledges_the_alert(harness):
    await harness.say("alice", "backup")
    await harness.advance(121)
    await harness.press("bob", "On my way")
    row = (await harness.query("SELECT status, acked_by FROM alerts WHERE id=1"))[0]
    assert tuple(row) == ("acked", "bob")
    assert "On the way: Bob Green" in card(harness, "alice", "Backup asked for")
    assert harness.last("alice").text == "Someone has picked up your backup request and is on the way."


async def test_codeword_backup_is_discreet(harness):
    await on_shift(harness, "carol")
    await harness.say("alice", "Could use an extra pair of hands")
    assert harness.texts("alice") == ["Okay, I'll see who's free."]
    c = harness.last("carol").text
    assert "BACKUP WANTED: Alice Smith" in c and "Backup wanted at my desk" in c
    await harness.press("carol", "On my way")
    assert card(harness, "alice", "see who's free") == "Someone is coming over.\nCarol Jones on the way."
    await harness.say("alice", "i'm fine")
    assert harness.last("alice").text == "Okay, thanks."
    assert not any(FORBIDDEN.search(t) for t in harness.texts("alice"))
    assert not any(FORBIDDEN.search(d.text) for d in harness.transport.to("alice"))


async def test_everyone_cant_come_climbs_at_once(harness):
    await harness.say("alice", "backup")
    await harness.press("bob", "Can't come")
    rows = await harness.query("SELECT kind, title FROM alerts")
    assert [tuple(r) for r in rows] == [("backup", "Backup wanted - nobody on the way")]
    assert any("Backup wanted - nobody on the way" in t for t in harness.texts("bob"))  # the ladder's tier 1


async def test_drill_marks_backup_messages(harness):
    await harness.say("bob", "drill on")
    await harness.say("alice", "backup desk")
    assert harness.last("bob").text.startswith("[DRILL] BACKUP WANTED")
    assert "This is an exercise." in harness.last("bob").text
    assert card(harness, "alice", "Backup asked for").startswith("[DRILL] Backup asked for")
    await harness.advance(121)
    alert = (await harness.query("SELECT drill FROM alerts WHERE id=1"))[0][0]
    assert alert == 1
    assert (await harness.query("SELECT drill FROM backup_requests"))[0][0] == 1


async def test_overview_shows_open_requests_but_never_a_codeword_one(harness):
    await harness.say("alice", "backup by the lifts")
    await harness.press("bob", "On my way")
    lines = await harness.engine.home(harness.engine.directory.person("alice"))
    assert "Your backup request from 14:30: on the way - Bob Green. Say 'I'm fine' to stand it down." in lines
    await harness.say("carol", "Could use an extra pair of hands")
    carol = await harness.engine.home(harness.engine.directory.person("carol"))
    assert not any("backup" in line.lower() for line in carol)
