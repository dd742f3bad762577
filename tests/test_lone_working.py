"""Lone working end to end: what the worker and the managers see, on a real SQLite file with a fake clock."""

from __future__ import annotations

from bot.clock import FakeClock
from bot.model import Priority
from bot.transports.memory import MemoryTransport
from tests.conftest import AFTERNOON, settle, start_engine

BUTTONS = ["I'm safe", "+15 min", "+30 min", "Finish"]
MIN = 60


def recent(h, who: str, n: int = 3) -> str:
    """The person's last few messages (another capability may add its own note after ours)."""
    return "\n".join(h.texts(who)[-n:])


def labels(delivery) -> list[str]:
    return [b.label for b in delivery.buttons]


async def lone_events(h, session_id: int = 1) -> list[str]:
    return [r[0] for r in await h.query("SELECT kind FROM lone_events WHERE session_id=? ORDER BY id", session_id)]


async def alert_events(h, alert_id: int = 1) -> list[str]:
    return [r[0] for r in await h.query("SELECT kind FROM alert_events WHERE alert_id=? ORDER BY id", alert_id)]


# --- the whole missed check-in story ---------------------------------------------------------------
async def test_missed_checkin_reminds_asks_escalates_then_safe_tells_everyone(harness):
    await harness.say("alice", "lone 45m home visit, 12 High St")
    start = harness.last("alice").text
    assert "Lone working started at 14:30: home visit, 12 High St" in start
    assert "Check in by 15:15 (in 45 min)" in start

    await harness.advance(40 * MIN)  # 15:10: the reminder, 5 min before
    reminder = harness.last("alice")
    assert "your session ends at 15:15 (in 5 min)" in reminder.text
    assert labels(reminder) == BUTTONS and reminder.priority == Priority.reminder
    assert harness.sent("bob") == []

    await harness.advance(5 * MIN)  # 15:15: the deadline, no check-in
    ask = harness.last("alice")
    assert ask.text.startswith("Are you OK?") and "by 15:20" in ask.text
    assert labels(ask) == BUTTONS and ask.priority == Priority.alarm
    assert harness.sent("bob") == []

    await harness.advance(5 * MIN)  # 15:20: grace over: the duty manager is alerted
    card = harness.last("bob")
    assert card.text.startswith("[HIGH] Missed lone-working check-in")
    for line in ("From: Alice Smith (+44 7700 900001), Central Library", "Phone: +44 7700 900001",
                 "Note: home visit, 12 High St", "Started: 14:30", "Last check-in: none",
                 "Overdue: 5 min (check-in was due 15:15)"):
        assert line in card.text
    assert labels(card) == ["Acknowledge", "Resolve", "Call police?"]
    assert "alerted the duty manager" in harness.last("alice").text
    assert harness.sent("carol") == [] and harness.sent("dana") == []  # the lone ladder: duty manager first

    await harness.press("bob", "Acknowledge")
    assert "Acknowledged by Bob Green at 15:20" in harness.seen("bob").text

    await harness.advance(1 * MIN)
    await harness.press("alice", "I'm safe")
    assert ("Thanks - you're checked in safe and your lone-working session is finished. I've let Bob Green know "
            "you're safe.") in recent(harness, "alice")
    assert harness.texts("bob")[-1] == ("Alice Smith has checked in and is safe (15:21). No need to go or call - "
                                        "thank you.")
    card_now = harness.transport.latest("bob")
    assert card_now is not None
    assert any("Resolved by Alice Smith at 15:21" in r.delivery.text for r in harness.transport.records
               if r.delivery.chat_id == "bob" and r.delivery.kind == "edit")
    assert await alert_events(harness) == ["raised", "notified", "acked", "resolved", "safe"]
    assert await lone_events(harness) == ["started", "reminded", "asked", "escalated", "checkin", "finished"]

    await harness.advance(60 * MIN)  # nothing more happens: no second alert, no climb
    assert len([t for t in harness.texts("bob") if "Missed lone-working" in t]) == 1
    assert harness.sent("dana") == []


async def test_unacknowledged_lone_alert_climbs_to_the_next_tier(harness):
    await harness.say("alice", "lone 10m")
    await harness.advance(15 * MIN)  # deadline 14:40 + 5 min grace
    assert "Missed lone-working check-in" in harness.last("bob").text
    assert harness.sent("dana") == []
    await harness.advance(3 * MIN)  # the lone ladder's tier 1 waits 3 min
    assert "Missed lone-working check-in" in harness.last("dana").text
    assert "tier 2 of 2" in harness.last("dana").text


async def test_check_in_during_grace_stops_the_escalation(harness):
    await harness.say("alice", "lone 30m closing")
    await harness.advance(31 * MIN)
    assert harness.last("alice").text.startswith("Are you OK?")
    await harness.say("alice", "I'm safe")
    assert "your lone-working session is finished" in harness.last("alice").text
    await harness.advance(60 * MIN)
    assert harness.sent("bob") == []
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 0


# --- check in, extend, finish ---------------------------------------------------------------------
async def test_button_extend_moves_the_deadline_and_the_reminder(harness):
    await harness.say("alice", "lone 45m closing")
    await harness.advance(40 * MIN)
    await harness.press("alice", "+15 min")
    assert harness.last("alice").text == "Done - your session now ends at 15:30 (in 20 min)."
    await harness.advance(10 * MIN)  # 15:20: past the old deadline; nothing asked
    assert not any(t.startswith("Are you OK?") for t in harness.texts("alice"))
    await harness.advance(5 * MIN)  # 15:25: the new reminder
    assert "your session ends at 15:30 (in 5 min)" in harness.last("alice").text
    await harness.press("alice", "Finish")
    assert harness.last("alice").text == "Thanks, Alice - your lone-working session is finished. Get home safely."
    await harness.advance(60 * MIN)
    assert harness.sent("bob") == []
    assert await lone_events(harness) == ["started", "reminded", "extended", "reminded", "finished"]


async def test_words_checkin_extend_finish_and_status(harness):
    await harness.say("alice", "lone 1h30m mobile library")
    assert "Check in by 16:00 (in 1 h 30 min)" in harness.last("alice").text
    await harness.advance(10 * MIN)
    await harness.say("alice", "safe")
    assert harness.last("alice").text == ("Thanks - checked in at 14:40; your session ends at 16:00 (in 1 h 20 min). "
                                          "Send finish when you're done, or extend 15m for more time.")
    await harness.say("alice", "extend 30m")
    assert harness.last("alice").text == "Done - your session now ends at 16:30 (in 1 h 50 min)."
    await harness.say("alice", "status")
    status = harness.last("alice")
    assert "Lone working since 14:30: mobile library" in status.text
    assert "Check in by 16:30 (in 1 h 50 min)." in status.text and "Last check-in: 14:40." in status.text
    assert labels(status) == BUTTONS
    await harness.say("alice", "done")
    assert "your lone-working session is finished" in harness.last("alice").text
    await harness.say("alice", "status")
    assert harness.last("alice").text == "You have no lone-working session running."
    await harness.say("alice", "extend 15m")
    assert harness.last("alice").text.startswith("You have no lone-working session running.")


async def test_an_old_finish_button_does_not_end_a_new_session(harness):
    await harness.say("alice", "lone 45m closing")
    await harness.advance(40 * MIN)
    old_finish = harness.last("alice").buttons[3]
    await harness.say("alice", "finish")
    await harness.say("alice", "lone 1h home visit")
    await harness.say("alice", action=old_finish.action, arg=old_finish.arg)
    assert harness.last("alice").text.startswith("That button was for your lone-working session started 14:30 "
                                                 "(closing), which has already finished.\nYour session started "
                                                 "15:10 (home visit) is still running")
    assert [b.label for b in harness.last("alice").buttons][-1] == "Finish"  # the live session's own buttons
    assert harness.last("alice").buttons[-1].arg != old_finish.arg
    await harness.say("alice", "status")
    assert "home visit" in harness.last("alice").text


async def test_one_session_at_a_time(harness):
    await harness.say("alice", "lone 45m closing")
    await harness.say("alice", "lone 2h other")
    assert harness.last("alice").text.startswith("You already have a lone-working session running: your session ends at 15:15")
    assert (await harness.query("SELECT COUNT(*) FROM lone_sessions"))[0][0] == 1


# --- starting: durations, times, presets ------------------------------------------------------------
async def test_duration_forms_time_of_day_and_presets(harness):
    for text, due in (("lone 90s quick check", "14:31"), ("lone 1h30m", "16:00"),
                      ("lone 1 hour 30 min visit", "16:00"), ("lone 20 mins post room", "14:50"),
                      ("lone until 18:30 closing up", "18:30"), ("lone until 6pm", "18:00"),
                      ("lone closing", "15:15"), ("lone home-visit 12 High St", "16:00")):
        await harness.say("alice", text)
        assert f"Check in by {due}" in harness.last("alice").text, text
        await harness.say("alice", "finish")
    notes = [r[0] for r in await harness.query("SELECT note FROM lone_sessions ORDER BY id")]
    assert notes == ["quick check", "", "visit", "post room", "closing up", "", "closing",
                     "home-visit - 12 High St"]


async def test_a_time_already_passed_today_is_refused_clearly(harness):
    await harness.say("alice", "lone until 09:00 opening")
    assert harness.last("alice").text.startswith("09:00 has already passed today (it is 14:30 now)")
    assert (await harness.query("SELECT COUNT(*) FROM lone_sessions"))[0][0] == 0


async def test_nonsense_gets_usage_not_a_session(harness):
    await harness.say("alice", "lone")
    assert "lone 45m home visit, 12 High St" in harness.last("alice").text
    assert "closing (45 min)" in harness.last("alice").text
    await harness.say("alice", "lone soon-ish")
    assert "I need a length like 45m" in harness.last("alice").text
    await harness.say("alice", "lone 3d")
    assert "I need a length" in harness.last("alice").text
    await harness.say("alice", "lone 25h")
    assert "at most 24 h" in harness.last("alice").text
    assert (await harness.query("SELECT COUNT(*) FROM lone_sessions"))[0][0] == 0


# --- periodic ---------------------------------------------------------------------------------------
async def test_periodic_checkins_until_the_total_time(harness):
    await harness.say("alice", "lone every 30m for 1h30m mobile library")
    start = harness.last("alice").text
    assert "Check in every 30 min until 16:00; the first check-in is due 15:00" in start

    await harness.advance(25 * MIN)  # 14:55
    assert "your check-in is due at 15:00 (in 5 min)" in harness.last("alice").text
    await harness.press("alice", "I'm safe")
    assert harness.last("alice").text == "Thanks - checked in at 14:55; next check-in due 15:25 (in 30 min)."

    await harness.advance(25 * MIN)  # 15:20: reminder for 15:25
    assert "due at 15:25" in harness.last("alice").text
    await harness.advance(5 * MIN)  # 15:25 missed
    assert harness.last("alice").text.startswith("Are you OK?")
    await harness.advance(5 * MIN)  # 15:30 escalated
    assert "Last check-in: 14:55" in harness.last("bob").text
    assert "checking in every 30 min until 16:00" in harness.last("bob").text
    await harness.say("alice", "ok")
    assert ("Thanks - checked in at 15:30; your session ends at 16:00 (in 30 min). I've let Bob Green know you're "
            "safe.") in recent(harness, "alice")  # the session carries on, capped at its end
    assert harness.texts("bob")[-1].startswith("Alice Smith has checked in and is safe")

    await harness.advance(25 * MIN)  # 15:55: the last reminder
    await harness.press("alice", "I'm safe")
    assert "your lone-working session is finished" in harness.last("alice").text
    await harness.advance(60 * MIN)
    assert len([t for t in harness.texts("bob") if "Missed" in t]) == 1


async def test_periodic_interval_must_be_shorter_than_the_total(harness):
    await harness.say("alice", "lone every 2h for 1h")
    assert "must be shorter than the whole time" in harness.last("alice").text


# --- duress -------------------------------------------------------------------------------------------
async def test_duress_looks_like_a_normal_finish_and_raises_the_top_alert(harness):
    await harness.say("alice", "lone 45m closing")
    await harness.say("alice", "finish")
    normal = harness.texts("alice")[-1]
    await harness.say("carol", "on shift")
    await harness.say("alice", "lone 45m closing")
    before = len(harness.texts("alice"))

    await harness.say("alice", "Finished for the day!")
    alice = harness.texts("alice")[before:]
    assert alice == [normal]  # exactly what a normal finish shows, nothing else
    assert harness.last("alice").buttons == ()

    for who in ("bob", "carol"):  # the critical ladder of the red-folder codeword: on shift + duty manager
        card = harness.last(who)
        assert card.text.startswith("[CRITICAL] Duress: lone worker signalled danger")
        assert "Alice Smith" in card.text and "Note: closing" in card.text
        assert "Call police?" in labels(card)
    await harness.say("alice", "status")
    assert harness.last("alice").text == "You have no lone-working session running."
    await harness.advance(2 * 3600)
    assert not any("Missed" in t for t in harness.texts("bob"))  # the session is over as far as timers go
    assert not any("uress" in t for t in harness.texts("alice"))
    rows = await harness.query("SELECT kind, severity FROM alerts")
    assert [tuple(r) for r in rows] == [("lone_duress", "critical")]


async def test_duress_after_escalation_shows_the_normal_reply_and_keeps_the_alert_open(harness):
    await harness.say("alice", "lone 10m")
    await harness.advance(15 * MIN)
    await harness.say("alice", "finished for the day")
    reply = harness.texts("alice")[-1]
    assert reply == ("Thanks, Alice - your lone-working session is finished. Get home safely. "
                     "I've let Bob Green know you're safe.")
    assert not any("has checked in and is safe" in t for t in harness.texts("bob"))
    assert harness.last("bob").text.startswith("[CRITICAL] Duress")
    statuses = {r[0]: r[1] for r in await harness.query("SELECT kind, status FROM alerts")}
    assert statuses == {"lone": "open", "lone_duress": "open"}


async def test_duress_words_without_a_session_raise_nothing(harness):
    await harness.say("alice", "finished for the day")
    assert harness.last("alice").text == "You have no lone-working session running."
    assert (await harness.query("SELECT COUNT(*) FROM alerts"))[0][0] == 0


# --- words that are not ours without a session ---------------------------------------------------------
async def test_im_safe_without_a_session_is_not_swallowed(harness):
    await harness.say("alice", "I'm safe")
    assert harness.last("alice").text == "Sorry, I didn't understand that. Send help to see what you can do."


# --- managers -----------------------------------------------------------------------------------------
async def test_managers_list_live_sessions_at_their_branch(harness):
    await harness.say("alice", "lone 45m closing")
    await harness.say("erin", "lone 1h mobile library")
    await harness.say("bob", "sessions")
    text = harness.last("bob").text
    assert text.startswith("Live lone-working sessions at Central Library:")
    assert "Alice Smith (+44 7700 900001) - closing; since 14:30; check-in due 15:15 (in 45 min)" in text
    assert "Erin" not in text
    await harness.say("dana", "lone list")
    text = harness.last("dana").text
    assert "Alice Smith" in text and "Erin Shah" in text and "Riverside Library" in text
    await harness.say("carol", "sessions")
    assert harness.last("carol").text == "Sorry, that is not something your role can do here."
    await harness.say("carol", "lone list")
    assert harness.last("carol").text == "Sorry, that is not something your role can do here."
    await harness.advance(50 * MIN)
    await harness.say("bob", "sessions")
    assert "MISSED check-in due 15:15 - alert #1" in harness.last("bob").text
    await harness.say("bob", "status")
    assert "Live lone-working sessions you can see: 1" in harness.last("bob").text


async def test_manager_resolving_the_alert_closes_the_session(harness):
    await harness.say("alice", "lone 10m")
    await harness.advance(15 * MIN)
    await harness.press("bob", "Resolve")
    assert "Bob Green has closed your lone-working session." in recent(harness, "alice")
    await harness.say("alice", "status")
    assert harness.last("alice").text == "You have no lone-working session running."
    assert (await lone_events(harness))[-1] == "closed"


async def test_home_lines_for_worker_and_manager(harness):
    await harness.say("alice", "lone 45m closing")
    assert await harness.engine.home(harness.engine.directory.person("alice")) == [
        "Lone working since 14:30 (closing): your session ends at 15:15 (in 45 min)."]
    bob = await harness.engine.home(harness.engine.directory.person("bob"))
    assert "Lone workers now: 1 (send sessions for the list)." in bob


async def test_volunteers_may_lone_work_and_are_looked_after(harness):
    await harness.say("vic", "lone 10m shelving")
    await harness.advance(15 * MIN)
    assert "Vic Patel" in harness.last("bob").text


# --- any platform, and restarts ------------------------------------------------------------------------
async def test_start_on_one_platform_check_in_on_another(tmp_path, db):
    telegram = MemoryTransport("telegram")
    console = MemoryTransport("console")
    clock = FakeClock(AFTERNOON)
    h = await start_engine(db, clock, console)
    await h.engine.stop()
    from bot.book import load_book, load_service
    from bot.compose import build_app
    from bot.engine import Engine
    from tests.conftest import make_settings

    s = make_settings(db)
    service = load_service(s.service_file)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[telegram, console])
    await engine.start()
    try:
        engine.directory.bind("alice", "telegram", "111")
        await telegram.say("111", "lone 45m home visit")
        await settle(engine)
        assert "Check in by 15:15" in telegram.to("111")[-1].text
        await clock.advance(40 * MIN)
        await settle(engine)
        assert "in 5 min" in telegram.to("111")[-1].text  # the reminder comes where the session started
        await console.say("alice", "I'm safe")
        await settle(engine)
        assert "your lone-working session is finished" in console.to("alice")[-1].text
        await clock.advance(60 * MIN)
        await settle(engine)
        assert not [d for d in console.to("bob") if "Missed" in d.text]
    finally:
        await engine.stop()


async def test_deadline_passed_while_down_escalates_at_start_once(tmp_path, db):
    db = db
    first = await start_engine(db, FakeClock(AFTERNOON))
    await first.say("alice", "lone 45m home visit")
    await first.engine.stop()  # the bot goes away before the reminder

    second = await start_engine(db, FakeClock(AFTERNOON + 2 * 3600))  # back two hours later
    try:
        card = second.last("bob")
        assert card.text.startswith("[HIGH] Missed lone-working check-in")
        assert "Overdue: 1 h 15 min (check-in was due 15:15)" in card.text
        alice = second.texts("alice")
        assert len(alice) == 1 and alice[0].startswith("Are you OK?") and "alerted the duty manager" in alice[0]
        await second.engine.scheduler.run_due()
        await second.advance(0)
        assert len(second.sent("bob")) == 1
    finally:
        await second.engine.stop()

    third = await start_engine(db, FakeClock(AFTERNOON + 2 * 3600 + 60))
    try:
        assert third.sent("bob") == [] and third.sent("alice") == []
        assert (await third.query("SELECT COUNT(*) FROM alerts WHERE kind='lone'"))[0][0] == 1
    finally:
        await third.engine.stop()


async def test_down_during_grace_asks_then_escalates_on_time(tmp_path, db):
    db = db
    first = await start_engine(db, FakeClock(AFTERNOON))
    await first.say("alice", "lone 45m")
    await first.engine.stop()
    second = await start_engine(db, FakeClock(AFTERNOON + 46 * MIN))  # 1 min after the deadline
    try:
        assert second.last("alice").text.startswith("Are you OK?")
        assert second.sent("bob") == []
        await second.advance(4 * MIN)
        assert "Missed lone-working check-in" in second.last("bob").text
    finally:
        await second.engine.stop()


async def test_everyday_words_are_lone_working_only_during_a_session(harness):
    for word in ("safe", "ok", "done"):
        await harness.say("alice", word)
        assert "Send help" in harness.last("alice").text, word
    await harness.say("alice", "lone 45m closing")
    await harness.say("alice", "ok")
    assert harness.last("alice").text.startswith("Thanks - checked in at 14:30")
    await harness.say("alice", "All done.")
    assert "your lone-working session is finished" in harness.last("alice").text


async def test_a_fault_in_one_session_never_holds_up_the_others(harness, monkeypatch):
    import handlers.lone_session as lw

    real_ask = lw._ask

    def broken_for_alice(tx, s):
        if s.person == "alice":
            raise RuntimeError("boom")
        real_ask(tx, s)

    monkeypatch.setattr(lw, "_ask", broken_for_alice)
    await harness.say("alice", "lone 10m")
    await harness.say("erin", "lone 10m")
    await harness.advance(10 * MIN)
    assert harness.last("erin").text.startswith("Are you OK?")
    assert not harness.last("alice").text.startswith("Are you OK?")
    monkeypatch.setattr(lw, "_ask", real_ask)
    await harness.advance(30)  # the failed step is tried again 30 s later
    assert harness.last("alice").text.startswith("Are you OK?")


async def test_many_deadlines_share_one_sweep(harness):
    for who in ("alice", "carol", "erin", "vic"):
        await harness.say(who, "lone 10m")
    pending = await harness.query("SELECT kind, COUNT(*) FROM wakeups WHERE status='pending' GROUP BY kind")
    assert [tuple(r) for r in pending if r[0].startswith("lone")] == [("lone.sweep", 1)]
    await harness.advance(15 * MIN)
    assert len([t for t in harness.texts("bob") if "Missed lone-working" in t]) == 3
    assert len([t for t in harness.texts("fran") if "Missed lone-working" in t]) == 1


async def test_a_duress_pin_alone_or_after_finish(harness):
    book = harness.engine.ctx.book
    harness.engine.ctx.book = book.model_copy(update={"lone_working": book.lone_working.model_copy(
        update={"duress_words": ("4321",)})})
    for text in ("4321", "finish 4321"):
        await harness.say("alice", "lone 45m closing")
        await harness.say("alice", text)
        assert harness.last("alice").text == ("Thanks, Alice - your lone-working session is finished. "
                                              "Get home safely.")
    assert len([t for t in harness.texts("bob") if t.startswith("[CRITICAL] Duress")]) == 2
    await harness.say("alice", "lone 45m closing")
    await harness.say("alice", "finish 1234")  # not the PIN: a normal finish, no alert
    assert len([t for t in harness.texts("bob") if t.startswith("[CRITICAL] Duress")]) == 2


async def test_periodic_until_a_time(harness):
    await harness.say("alice", "lone every 30m until 16:00 mobile library")
    assert "Check in every 30 min until 16:00; the first check-in is due 15:00" in harness.last("alice").text
    await harness.say("alice", "status")
    assert "Lone working since 14:30: mobile library" in harness.last("alice").text
    assert "Next check-in due 15:00 (in 30 min)." in harness.last("alice").text


async def test_duress_is_never_swallowed_by_a_form_waiting_for_text(harness):
    from bot.messages import Outbound
    from bot.registry import Group, Reader

    READERS = harness.engine.app.readers

    def greedy_form(tx, person, msg):  # e.g. an incident form step waiting for free text
        tx.reply(msg, Outbound("Noted."), person=person)
        return True

    await harness.say("alice", "lone 45m closing")
    reader = Reader(Group.ANSWER, greedy_form, "tests", frozenset(), False)
    READERS.append(reader)
    try:
        await harness.say("alice", "finished for the day")
        assert harness.last("alice").text == ("Thanks, Alice - your lone-working session is finished. "
                                              "Get home safely.")
        assert harness.last("bob").text.startswith("[CRITICAL] Duress")
        await harness.say("alice", "on the stairs")
        assert harness.last("alice").text == "Noted."
    finally:
        READERS.remove(reader)
