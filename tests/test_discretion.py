"""Discretion: the person an alert is about never sees what it is, even after it ends."""

from __future__ import annotations

import re

REVEALING = re.compile(r"\b(alert|alarm|police|duress|aggressive|danger)\b", re.IGNORECASE)


async def test_codeword_sender_sees_only_innocent_words_through_resolve_and_reminders(harness):
    await harness.say("alice", "Is Mr Brown in today?")
    await harness.press("bob", "Resolve")
    await harness.advance(3 * 3600)  # past the first form reminder
    texts = harness.texts("alice")
    assert texts[0] == "I'll have a look in the staff room for you."
    assert any("please complete the record INC-" in t for t in texts)
    assert any(t.startswith("Reminder: please complete the incident form") for t in texts)
    assert not [t for t in texts if REVEALING.search(t)]


async def test_duress_alert_record_goes_to_the_manager_and_the_worker_hears_nothing(harness):
    await harness.say("alice", "lone 45m home visit, 12 High St")
    await harness.say("alice", "finished for the day")
    after_duress = list(harness.texts("alice"))
    card = harness.last("bob")
    assert "[CRITICAL]" in card.text
    await harness.press("bob", "Resolve")
    await harness.advance(3 * 3600)
    assert harness.texts("alice") == after_duress  # nothing more, ever
    assert not [t for t in harness.texts("alice") if REVEALING.search(t)]
    assert any("has been logged as INC-" in t for t in harness.texts("bob"))


async def test_words_in_a_group_chat_do_not_end_a_lone_session(harness):
    await harness.say("alice", "lone 45m closing")
    await harness.say("alice", "done", chat="staff-room", is_group=True)
    await harness.say("alice", "status")
    assert "closing" in harness.last("alice").text and "no lone" not in harness.last("alice").text.lower()
    assert harness.transport.to("staff-room") == []  # nothing posted to the group
