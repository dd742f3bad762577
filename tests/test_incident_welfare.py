"""After a serious incident: the manager's welfare checklist, private check-ins, RIDDOR reminders."""

from __future__ import annotations

from tests.test_incidents import ANSWERS, fill_form

DAY = 86400
REF = "INC-2026-0001"


def assault(names: str | None = "Carol") -> list:
    answers = list(ANSWERS)
    answers[2] = "physical assault"
    answers[4] = names
    answers[9] = "bruised arm"
    return answers


async def test_serious_incident_gives_checklist_and_checkins_that_reach_the_manager(harness):
    h = harness
    await h.say("alice", "log man pushed me at the desk")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice", assault())
    card = h.seen("bob")
    assert card is not None and "Welfare checklist for " + REF in card.text
    assert "[ ] Debrief offered" in card.text and "Alice Smith, Carol Jones" in card.text
    await h.press("bob", "Done: Debrief offered")
    assert "[x] Debrief offered - Bob Green" in h.seen("bob").text
    assert "Done: Debrief offered" not in [b.label for b in h.seen("bob").buttons]

    assert not any("Welfare checklist" in t for t in h.texts("alice"))

    await h.advance(7 * DAY)  # one week on: a private check-in for each affected person
    for who in ("alice", "carol"):
        assert "It is 1 week since the incident at Central Library" in h.last(who).text
    await h.press("alice", "I'd like to talk")
    assert "passed that to your manager" in h.last("alice").text
    told = h.last("bob").text
    assert "Alice Smith says: I'd like to talk" in told and "get in touch privately" in told
    await h.say("carol", "Still a bit shaken, but OK thanks")
    assert "Carol Jones says: Still a bit shaken, but OK thanks" in h.last("bob").text

    await h.advance(7 * DAY)
    assert "It is 2 weeks since" in h.last("alice").text
    await h.advance(14 * DAY)
    assert "It is 4 weeks since" in h.last("carol").text
    answered = await h.query("SELECT person, offset_label, answer FROM welfare_checkins WHERE status='answered'")
    assert sorted(tuple(r) for r in answered) == [("alice", "1w", "I'd like to talk"),
                                                  ("carol", "1w", "Still a bit shaken, but OK thanks")]


async def test_manager_marks_serious_and_flags_riddor_with_deadline_reminders(harness):
    h = harness
    await h.say("alice", "log visitor fell on the stairs after being shoved")
    await h.say("alice", "incident INC-2026-0001 serious")
    assert "Only a duty manager" in h.last("alice").text
    await h.say("bob", "incident INC-2026-0001 serious")
    assert "marked serious" in h.texts("bob")[-2]
    assert "Welfare checklist for " + REF in h.seen("bob").text
    await h.say("bob", "incident INC-2026-0001 riddor")
    assert "due by Thu 10 Dec 2026" in h.last("bob").text
    await h.say("bob", "incident INC-2026-0001")
    assert "RIDDOR reportable: report by Thu 10 Dec 2026" in h.last("bob").text
    assert "[SERIOUS, RIDDOR]" in h.last("bob").text
    await h.advance(10 * DAY)
    assert "must be reported to the HSE by Thu 10 Dec 2026 (5 day(s) left)" in h.last("bob").text
    await h.advance(4 * DAY)
    assert "(1 day(s) left)" in h.last("bob").text


async def test_welfare_answer_buttons_belong_to_their_person(harness):
    h = harness
    await h.say("alice", "log pushed")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice", assault(None))
    await h.advance(7 * DAY)
    checkin = h.last("alice")
    ok = next(b for b in checkin.buttons if b.label == "I'm OK")
    await h.say("carol", action=ok.action, arg=ok.arg)  # someone else's button
    assert "expired" in h.last("carol").text
    await h.say("alice", action=ok.action, arg=ok.arg)
    await h.say("alice", action=ok.action, arg=ok.arg)
    assert "already answered" in h.last("alice").text
    assert sum("Alice Smith says: I'm OK" in t for t in h.texts("bob")) == 1
