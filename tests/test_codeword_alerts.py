"""Codeword alerts end to end on a real SQLite file: what each person's phone receives."""

from __future__ import annotations

import re

from bot.model import Role

FORBIDDEN = re.compile(r"\b(alert|alarm|police)\b", re.IGNORECASE)


async def on_shift(harness, *people):
    for p in people:
        await harness.say(p, "on shift")


async def test_codeword_cover_reply_tier1_ack_confirmation_and_timeline(harness):
    await on_shift(harness, "carol")
    await harness.say("alice", "Is Mr Brown in today?")

    alice = harness.texts("alice")
    assert alice == ["I'll have a look in the staff room for you."]
    assert not any(FORBIDDEN.search(t) for t in alice)
    for manager in ("carol", "bob"):  # on-shift colleague and the duty manager on the rota
        card = harness.last(manager)
        assert "Aggressive or threatening person" in card.text and "Alice Smith" in card.text
        assert [b.label for b in card.buttons] == ["Acknowledge", "Resolve", "Call police?"]
    assert harness.sent("dana") == []  # tier 2 not reached yet

    await harness.press("bob", "Acknowledge")

    for person in ("carol", "bob"):
        seen = harness.seen(person)
        assert "Acknowledged by Bob Green at 14:30" in seen.text
        assert "Acknowledge" not in [b.label for b in seen.buttons]
    assert harness.texts("alice")[-1] == "Mr Brown has just come in, he'll be with you in a minute."
    assert not any(FORBIDDEN.search(t) for t in harness.texts("alice"))

    events = [r[0] for r in await harness.query("SELECT kind FROM alert_events WHERE alert_id=1 ORDER BY id")]
    assert events == ["raised", "notified", "notified", "acked", "confirmed"]


async def test_no_ack_climbs_repeats_and_resolve_stops_everything(harness):
    await harness.say("alice", "Is Mr Brown in today?")
    assert len(harness.sent("bob")) == 1 and harness.sent("dana") == []

    await harness.advance(119)
    assert harness.sent("dana") == []  # the tier's wait is 2 minutes
    await harness.advance(2)
    assert "tier 2 of 2" in harness.last("dana").text  # climbed: admins and managers
    assert len(harness.sent("bob")) == 1  # already notified: his copy is edited, not re-sent
    assert "tier 2 of 2" in harness.seen("bob").text

    await harness.advance(180)  # tier 2 repeats forever every 3 minutes
    assert len(harness.sent("dana")) == 2 and len(harness.sent("bob")) == 2

    await harness.press("dana", "Resolve")
    assert "Resolved by Dana Hughes" in harness.seen("bob").text
    assert harness.seen("bob").buttons == ()
    sent_before = len(harness.transport.records)
    await harness.advance(3600)
    assert len(harness.transport.records) == sent_before  # nothing more, ever
    kinds = [r[0] for r in await harness.query("SELECT kind FROM alert_events WHERE alert_id=1 ORDER BY id")]
    assert kinds.count("climbed") == 1 and kinds.count("repeat") == 1 and kinds[-2:] == ["resolved", "confirmed"]
    pending = await harness.query("SELECT COUNT(*) FROM wakeups WHERE status='pending' AND kind='alert.climb'")
    assert pending[0][0] == 0


async def test_first_ack_wins_and_second_acker_is_told(harness):
    await on_shift(harness, "carol")
    await harness.say("alice", "Has Mr Brown been in?")
    await harness.press("carol", "Acknowledge")
    await harness.say("bob", action="alert.ack", arg="1")
    assert harness.last("bob").text == "Already acknowledged by Carol Jones at 14:30."
    acks = await harness.query("SELECT COUNT(*) FROM alert_events WHERE kind='acked'")
    assert acks[0][0] == 1


async def test_ack_withdraws_notifications_still_queued(harness):
    """Dana's tier-2 copy is waiting out a rate limit when Bob acks: it never goes."""
    from bot.transports.base import RetryAfter

    await harness.say("alice", "Is Mr Brown in today?")

    async def rate_limited(delivery):
        if delivery.chat_id == "dana":
            raise RetryAfter(30)

    harness.transport.fault = rate_limited
    await harness.advance(121)  # climb: dana's notification is queued behind a 30 s rate limit
    harness.transport.fault = None
    await harness.press("bob", "Acknowledge")
    await harness.advance(60)
    assert harness.sent("dana") == []
    status = await harness.query("SELECT status FROM outbox WHERE chat_id='dana'")
    assert [r[0] for r in status] == ["cancelled"]


async def test_copy_in_flight_during_ack_is_edited_after_it_lands(harness):
    import asyncio

    from tests.conftest import settle

    entered, gate = asyncio.Event(), asyncio.Event()

    async def slow(delivery):
        if delivery.chat_id == "dana" and delivery.kind == "send":
            entered.set()
            await gate.wait()

    await harness.say("alice", "Is Mr Brown in today?")
    harness.transport.fault = slow
    await harness.clock.advance(121)
    await asyncio.wait_for(entered.wait(), 2)  # dana's copy is on its way with the old text
    await harness.transport.say("bob", action="alert.ack", arg="1")
    gate.set()
    await settle(harness.engine)
    assert "waiting for someone" in harness.last("dana").text  # what went out
    assert "Acknowledged by Bob Green" in harness.seen("dana").text  # what she sees now


async def test_duplicate_inbound_event_raises_one_alert(harness):
    await harness.say("alice", "Is Mr Brown in today?", event_id="tg-123")
    await harness.say("alice", "Is Mr Brown in today?", event_id="tg-123")
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 1
    assert len(harness.sent("alice")) == 1 and len(harness.sent("bob")) == 1


async def test_unknown_sender_gets_neutral_reply_and_nothing_is_raised(harness):
    await harness.say("stranger", "Is Mr Brown in today?")
    reply = harness.last("stranger").text
    assert "library staff" in reply and not FORBIDDEN.search(reply)
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 0
    assert harness.sent("bob") == []


async def test_volunteer_may_raise_but_never_receives_alerts(harness):
    assert harness.engine.directory.person("vic").role == Role.volunteer
    await on_shift(harness, "vic", "carol")
    await harness.say("alice", "Is Mr Brown in today?")
    assert harness.texts("vic") == ["You are on shift at Central Library."]  # no alert card for the volunteer
    await harness.say("vic", "action", action="alert.ack", arg="1")
    assert "not something your role can do" in harness.last("vic").text

    await harness.say("vic", "Can someone bring the red folder")
    assert harness.last("vic").text == "Thanks, I'll ask someone to bring it over."
    assert "Vic Patel" in harness.last("bob").text and "[CRITICAL]" in harness.last("bob").text


async def test_codeword_inside_a_longer_message_and_phone_typing(harness):
    await harness.say("alice", "hi there!! is   MR. brown in today??? thanks")
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 1
    await harness.say("alice", "Mr Brown bought brown bread today")
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 1
    assert "Send help" in harness.last("alice").text  # an ordinary message gets a pointer to help, not an alert


async def test_nobody_on_duty_uses_fallback_and_records_the_gap(tmp_path, db):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.clock import FakeClock
    from tests.conftest import start_engine

    # Riverside on a Monday at 22:00: Fran's rota ends at 20:00
    night = datetime(2026, 11, 23, 22, 0, tzinfo=ZoneInfo("Europe/London")).timestamp()
    h = await start_engine(db, FakeClock(night))
    try:
        await h.say("erin", "Is Mr Brown in today?")
        assert "Erin Shah" in h.last("dana").text  # the admin fallback
        texts = [r[0] for r in await h.query("SELECT text FROM alert_events ORDER BY id")]
        assert any("no duty manager on the rota for Riverside Library" in t for t in texts)
        assert any("using the fallback" in t for t in texts)
    finally:
        await h.engine.stop()
