"""Scope of lockdowns, cover, buttons that act on what they show, police wording (issue 12)."""

from __future__ import annotations


async def test_cover_can_be_ended_as_the_reply_says(harness):
    await harness.say("fran", "cover central 2h")
    reply = harness.last("fran").text
    assert "cover end" in reply
    await harness.say("fran", "cover end")
    assert harness.last("fran").text.startswith("Cover ended. Duty manager for Central Library is now")


async def test_cover_end_naming_the_branch(harness):
    await harness.say("fran", "cover central 2h")
    await harness.say("fran", "cover end central")
    assert harness.last("fran").text.startswith("Cover ended. Duty manager for Central Library is now")
    assert (await harness.query("SELECT COUNT(*) FROM covers WHERE ended_at IS NULL"))[0][0] == 0


async def test_all_clear_without_a_branch_ends_only_what_the_sender_may_end(harness):
    await harness.say("alice", "on shift")
    await harness.say("bob", "lockdown central intruder")
    await harness.say("fran", "all clear")
    assert (await harness.query("SELECT status FROM lockdowns"))[0][0] == "active"
    assert not any("ALL CLEAR" in t for t in harness.texts("alice"))
    assert "Central Library" in harness.last("fran").text  # says what is live that she may not end
    await harness.say("bob", "all clear")
    assert (await harness.query("SELECT status FROM lockdowns"))[0][0] == "ended"
    assert "Central Library" in harness.last("bob").text


async def test_a_manager_may_not_lock_down_another_branch_or_all(harness):
    await harness.say("fran", "lockdown central intruder")
    await harness.say("fran", "evacuate all fire")
    await harness.say("fran", "lockdown north gas")
    assert (await harness.query("SELECT COUNT(*) FROM lockdowns"))[0][0] == 0
    assert "Riverside Library" in harness.last("fran").text
    await harness.say("fran", "lockdown riverside intruder")
    assert (await harness.query("SELECT scope FROM lockdowns"))[0][0] == "riverside"


async def test_an_admin_may_lock_down_all_and_a_covering_manager_that_branch(harness):
    await harness.say("dana", "evacuate all fire alarm")
    assert (await harness.query("SELECT scope FROM lockdowns"))[0][0] == "all"
    await harness.say("dana", "all clear")
    await harness.say("fran", "cover central 2h")
    await harness.say("fran", "lockdown central intruder")
    assert [r[0] for r in await harness.query("SELECT scope FROM lockdowns ORDER BY id")] == ["all", "central"]


async def test_lockdown_reaches_every_duty_manager_of_the_branch_and_the_admins(harness):
    await harness.say("dana", "person add gus name=Gus_Lee role=duty_manager branch=central")
    await harness.say("bob", "lockdown central intruder")
    assert "LOCKDOWN - Central Library" in harness.last("gus").text
    assert "LOCKDOWN - Central Library" in harness.last("dana").text


def _alert_card(harness, who: str) -> str:
    for rec in reversed(harness.transport.records):
        if rec.delivery.chat_id == who and "[HIGH]" in rec.delivery.text:
            return rec.delivery.text
    raise AssertionError(f"{who} has no alert card")


async def test_call_police_does_not_claim_the_police_were_called(harness):
    await harness.say("carol", "on shift")
    await harness.say("alice", "Is Mr Brown in today?")
    await harness.press("bob", "Call police?")
    text = _alert_card(harness, "bob")
    assert "Police called by" not in text
    assert "Bob Green is calling the police" in text and "not yet confirmed" in text
    assert "press Police called" in harness.last("bob").text
    await harness.press("bob", "Police called")
    text = _alert_card(harness, "bob")
    assert "Police called by Bob Green" in text and "is calling the police" not in text
    assert "Police called by Bob Green" in harness.seen("carol").text  # every copy, not only his
    assert not any("police" in t.lower() for t in harness.texts("alice"))  # discretion: never to the sender
