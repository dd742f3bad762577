"""Nothing is lost: restarts mid-ladder, retries, priority, fallback to another platform."""

from __future__ import annotations

from bot.clock import FakeClock
from bot.compose import build_app
from bot.transports.base import RetryAfter, Undeliverable
from bot.transports.memory import MemoryTransport
from tests.conftest import AFTERNOON, start_engine


async def test_restart_mid_ladder_climbs_at_once_exactly_once(tmp_path, db):
    db = db
    first = await start_engine(db, FakeClock(AFTERNOON))
    await first.say("alice", "Is Mr Brown in today?")
    assert len(first.sent("bob")) == 1
    await first.engine.stop()  # the process goes away before the 2-minute wait is up

    later = FakeClock(AFTERNOON + 600)  # ten minutes later, well past tier 1's wait
    second = await start_engine(db, later)
    try:
        assert "tier 2 of 2" in second.last("dana").text  # climbed at start-up, no clock movement needed
        climbs = await second.query("SELECT COUNT(*) FROM alert_events WHERE kind='climbed'")
        assert climbs[0][0] == 1
        await second.engine.scheduler.run_due()  # a second look at the same wake-ups changes nothing
        await second.advance(0)
        assert len(second.sent("dana")) == 1
    finally:
        await second.engine.stop()


async def test_message_claimed_by_a_dead_process_is_sent_after_restart(tmp_path):
    db = tmp_path / "saferbot.db"
    first = await start_engine(db, FakeClock(AFTERNOON))
    await first.say("alice", "Is Mr Brown in today?")
    await first.engine.stop()
    # simulate a crash between claim and send: the row is left 'sending'
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("INSERT INTO outbox(person, platform, chat_id, user_id, text, priority, status, next_at, created_at)"
                " VALUES('carol','console','carol','carol','hello',1,'sending',0,0)")
    con.commit()
    con.close()
    second = await start_engine(db, FakeClock(AFTERNOON + 10))
    try:
        assert second.texts("carol") == ["hello"]
    finally:
        await second.engine.stop()


async def test_transient_failures_retry_until_delivered(harness):
    failures = {"n": 0}

    async def flaky(delivery):
        if delivery.chat_id == "bob" and failures["n"] < 3:
            failures["n"] += 1
            raise ConnectionError("network down")

    harness.transport.fault = flaky
    await harness.say("alice", "Is Mr Brown in today?")
    for _ in range(20):
        if harness.sent("bob"):
            break
        await harness.advance(1)
    assert "Alice Smith" in harness.last("bob").text
    attempts = await harness.query("SELECT attempts FROM outbox WHERE chat_id='bob'")
    assert attempts[0][0] == 4


async def test_alarms_go_before_other_messages(tmp_path, clock, db):
    slow = MemoryTransport("console")
    h = await start_engine(db, clock, transport=slow)
    try:
        h.engine.outbox.lanes["console"].transport.limits = type(slow.limits)(per_second=1)
        # queue a pile of ordinary replies, then raise an alert
        for i in range(5):
            await slow.say("carol", "help", event_id=f"h{i}")
        await slow.say("alice", "Is Mr Brown in today?")
        from tests.conftest import settle

        await settle(h.engine, rounds=2000)
        order = [r.delivery.chat_id for r in slow.records]
        first_alarm = order.index("bob")
        assert first_alarm <= 2, order  # ahead of the help replies that were queued before it
    finally:
        await h.engine.stop()


async def test_undeliverable_goes_on_timeline_and_falls_back_to_other_platform(tmp_path, clock, db):
    from bot.book import load_book, load_service
    from bot.engine import Engine
    from bot.model import Service
    from tests.conftest import Harness, make_settings, settle

    telegram = MemoryTransport("telegram")
    slack = MemoryTransport("slack")
    s = make_settings(db)
    base = load_service(s.service_file)
    people = dict(base.people)
    people["alice"] = people["alice"].model_copy(update={"telegram": 111})
    people["bob"] = people["bob"].model_copy(update={"telegram": 222, "slack": "UBOB"})
    service = Service.model_validate({**base.model_dump(by_alias=True), "people": {
        k: p.model_dump() for k, p in people.items()}})
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[telegram, slack])
    await engine.start()

    async def blocked(delivery):
        if delivery.chat_id == "222":
            raise Undeliverable("Forbidden: bot was blocked by the user")

    telegram.fault = blocked
    h = Harness(engine, clock, telegram, db)
    try:
        await telegram.say("111", "Is Mr Brown in today?")
        await settle(engine)
        assert "Alice Smith" in slack.latest("UBOB").text
        events = [r[0] for r in await h.query("SELECT text FROM alert_events WHERE kind='delivery_failed'")]
        assert events == ["message to Bob Green via telegram failed (Forbidden: bot was blocked by the user);"
                          " sent via slack instead"]
        # an ack on Slack edits the Slack copy
        await slack.say("UBOB", action="alert.ack", arg="1")
        await settle(engine)
        assert "Acknowledged by Bob Green" in slack.latest("UBOB").text
        assert telegram.latest("111").text == "Mr Brown has just come in, he'll be with you in a minute."
    finally:
        await engine.stop()


async def test_rate_limit_wait_is_honoured_and_nothing_dropped(harness):
    calls = {"n": 0}

    async def limited(delivery):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RetryAfter(5)

    harness.transport.fault = limited
    await harness.say("alice", "Is Mr Brown in today?")
    assert harness.sent("bob") == [] or harness.sent("alice") == []
    await harness.advance(6)
    assert harness.texts("alice") == ["I'll have a look in the staff room for you."]
    assert "Alice Smith" in harness.last("bob").text


async def test_safety_net_fires_an_overdue_wakeup_that_memory_lost(harness):
    """Even if the in-memory schedule loses a wake-up, the store's overdue check still climbs."""
    await harness.say("alice", "Is Mr Brown in today?")
    harness.engine.scheduler._heap.clear()  # memory forgets the climb
    harness.clock._now += 121  # time passes without telling anyone
    await harness.engine.scheduler.aps.get_job("saferbot-overdue-check").func()
    await harness.advance(0)
    assert "tier 2 of 2" in harness.last("dana").text


async def test_overdue_climb_at_restart_sees_people_added_by_roster_edits(tmp_path, db):
    """Start-up hooks (roster edits) are applied before any overdue wake-up fires."""
    db = db
    first = await start_engine(db, FakeClock(AFTERNOON))
    await first.say("dana", 'person add zoe name="Zoe Ward" role=admin')
    assert "Zoe Ward" in first.last("dana").text
    await first.say("alice", "Is Mr Brown in today?")
    await first.engine.stop()

    second = await start_engine(db, FakeClock(AFTERNOON + 600))  # tier 1's wait passed while down
    try:
        assert "tier 2 of 2" in second.last("zoe").text  # the new admin is on tier 2 at once
    finally:
        await second.engine.stop()
