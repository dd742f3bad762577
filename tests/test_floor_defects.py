"""Floor truth (issue 21): each defect found on the floor, as a person on a phone would notice it."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT, start_engine
from tests.test_backup import buttons, card
from tests.test_incident_welfare import assault
from tests.test_incidents import fill_form

DAY = 86400
ROLLCALL_WAIT = 300


async def on_shift(h, *people):
    for p in people:
        await h.say(p, "on shift")


async def start_with(db, clock, **changes):
    """An engine whose settings differ from the test defaults by `changes` (e.g. another codeword book)."""
    from bot.book import load_book, load_service
    from bot.compose import build_app
    from bot.engine import Engine
    from bot.transports.memory import MemoryTransport
    from tests.conftest import Harness, make_settings, settle

    s = make_settings(db).model_copy(update=changes)
    service = load_service(s.service_file)
    transport = MemoryTransport("console")
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[transport])
    await engine.start()
    await settle(engine)
    return Harness(engine, clock, transport, db)


def alert_texts(h, who: str, marker: str) -> list[str]:
    return [t for t in h.texts(who) if marker in t]


# --- 1. a drill started during a real evacuation never relabels it ------------------------------
async def test_a_drill_started_during_a_real_evacuation_leaves_its_escalation_real(harness):
    h = harness
    await on_shift(h, "alice", "carol")
    await h.say("dana", "evacuate north fire in the basement")
    await h.press("alice", "I'm safe")
    await h.press("bob", "I'm safe")
    await h.say("bob", "drill on")
    asked = h.last("bob").text
    assert "A real EVACUATION is live at" in asked and "drill on confirm" in asked
    assert await h.query("SELECT branch FROM drills") == []  # not started until confirmed
    await h.say("bob", "drill on confirm")
    assert "Drill mode ON at Central Library" in h.last("bob").text
    assert "The real EVACUATION" in h.last("bob").text

    await h.advance(ROLLCALL_WAIT + 1)
    rows = await h.query("SELECT id, drill, title FROM alerts")
    assert [(r[1], r[2]) for r in rows] == [(0, "No answer to the evacuation roll call: Carol Jones")]
    sent = alert_texts(h, "alice", "No answer to the evacuation roll call")
    assert sent and not sent[0].startswith("[DRILL]") and sent[0].startswith("[HIGH]")
    await h.press("bob", "Resolve")
    stub = await h.query("SELECT drill FROM incidents")
    assert [r[0] for r in stub] == [0]
    await h.say("bob", "drill off")
    # what is raised while the drill runs is an exercise; turning it off relabels nothing
    await h.say("alice", "backup front desk")
    assert (await h.query("SELECT drill FROM backup_requests"))[0][0] == 0


async def test_a_lone_session_started_in_a_drill_stays_a_drill_after_drill_off(harness):
    h = harness
    await h.say("bob", "drill on")
    await h.say("alice", "lone 20m closing up")
    await h.say("bob", "drill off")
    await h.advance(20 * 60 + 301)
    alert = await h.query("SELECT drill FROM alerts WHERE kind='lone'")
    assert [r[0] for r in alert] == [1]
    assert alert_texts(h, "bob", "Missed lone-working check-in")[0].startswith("[DRILL]")


async def test_a_lone_session_started_for_real_stays_real_when_a_drill_starts(harness):
    h = harness
    await h.say("alice", "lone 20m closing up")
    await h.say("bob", "drill on")
    await h.advance(20 * 60 + 301)
    assert [r[0] for r in await h.query("SELECT drill FROM alerts WHERE kind='lone'")] == [0]
    assert not alert_texts(h, "bob", "Missed lone-working check-in")[0].startswith("[DRILL]")


# --- 2. an alert about a person never goes to that person ---------------------------------------
async def test_a_silent_person_gets_one_nudge_and_never_the_alert_about_them(harness):
    h = harness
    await on_shift(h, "alice", "carol")
    await h.say("bob", "lockdown central intruder")
    await h.press("alice", "I'm safe")
    before = len(h.texts("carol"))
    await h.advance(ROLLCALL_WAIT + 1)
    after = h.texts("carol")[before:]
    assert after == ["LOCKDOWN: we have not heard from you. Are you safe?"]
    assert alert_texts(h, "alice", "No answer to the lockdown roll call: Carol Jones")
    await h.advance(10 * 60)  # the ladder climbs: still never to her
    assert not alert_texts(h, "carol", "No answer")
    alert_id = (await h.query("SELECT id FROM alerts"))[0][0]
    for action in ("alert.ack", "alert.resolve"):
        await h.say("carol", action=action, arg=str(alert_id))
        assert h.last("carol").text == "That alert is not one you can act on."
    assert (await h.query("SELECT status FROM alerts"))[0][0] == "open"


async def test_quiet_roll_call_sends_no_nudge(db, clock):
    h = await start_engine(db, clock, rollcall_nudge="quiet")
    try:
        await on_shift(h, "alice", "carol")
        await h.say("bob", "lockdown central intruder")
        before = len(h.texts("carol"))
        await h.advance(ROLLCALL_WAIT + 1)
        assert h.texts("carol")[before:] == []
        assert alert_texts(h, "bob", "No answer to the lockdown roll call: Alice Smith, Carol Jones")
    finally:
        await h.engine.stop()


async def test_a_duty_manager_cannot_resolve_their_own_missed_check_in(harness):
    h = harness
    await h.say("bob", "lone 20m closing up")
    await h.advance(20 * 60 + 301)
    alert_id = (await h.query("SELECT id FROM alerts WHERE kind='lone'"))[0][0]
    assert not alert_texts(h, "bob", "Missed lone-working check-in")
    await h.say("bob", action="alert.resolve", arg=str(alert_id))
    assert h.last("bob").text == "That alert is not one you can act on."
    await h.say("bob", "alerts")
    assert "Missed lone-working" not in h.last("bob").text


# --- 3. a typed command wins over a pending welfare answer -------------------------------------
async def test_commands_typed_while_a_welfare_check_in_waits_are_commands(harness):
    h = harness
    await h.say("alice", "log man pushed me at the desk")
    await h.press("alice", "Complete form")
    await fill_form(h, "alice", assault(None))
    await h.advance(7 * DAY)
    assert "It is 1 week since the incident" in h.last("alice").text
    await h.say("alice", "log another thing happened")
    assert h.last("alice").text.startswith("Logged as INC-2026-0002")
    assert not any("says: log another" in t for t in h.texts("bob"))
    await h.say("alice", "resume INC-2026-0002")
    assert not any("says: resume" in t for t in h.texts("bob"))
    assert "INC-2026-0002" in h.last("alice").text  # the form of the new stub is open
    await h.say("alice", "cancel")
    await h.say("alice", "Still a bit shaken")
    told = h.last("alice").text
    assert "week" in told and "INC-2026-0001" in told and "passed that to your manager" in told
    assert "Alice Smith says: Still a bit shaken" in h.last("bob").text


# --- 4. a manager-resolved missed check-in: the record goes to the worker ----------------------
async def test_a_manager_resolved_missed_check_in_sends_the_record_to_the_worker(harness):
    h = harness
    await h.say("alice", "lone 20m home visit")
    await h.advance(20 * 60 + 301)
    await h.press("bob", "Resolve")
    assert any("Bob Green has closed your lone-working session" in t for t in h.texts("alice"))
    assert any("please complete the record INC-2026-0001" in t.lower() or "INC-2026-0001" in t
               for t in h.texts("alice"))
    assert not any("logged as INC-2026-0001" in t for t in h.texts("bob"))
    assert (await h.query("SELECT reporter FROM incidents"))[0][0] == "alice"


# --- 5. rollcall is scoped like all clear --------------------------------------------------------
async def test_rollcall_shows_only_your_branches(harness):
    h = harness
    await on_shift(h, "alice", "carol")
    await h.say("bob", "lockdown central intruder")
    await h.say("fran", "rollcall")
    text = h.last("fran").text
    assert "Carol Jones" not in text and "Alice Smith" not in text
    assert "not in your branches" in text
    await h.say("dana", "rollcall")
    assert "No answer (2): Alice Smith, Carol Jones" in h.last("dana").text


# --- 7. Call police? shows the address ----------------------------------------------------------
async def test_call_police_gives_the_branch_address_and_the_place(harness):
    h = harness
    await on_shift(h, "carol")
    await h.say("alice", "Is Mr Brown in today?")
    await h.press("carol", "Call police?")
    text = h.last("carol").text
    assert "Call 999 now" in text and "Central Library, 1 Library Square" in text
    assert "Alice Smith" in text


# --- 8. typed button labels ----------------------------------------------------------------------
async def test_typed_button_labels_act_on_the_latest_card(harness):
    h = harness
    await on_shift(h, "carol", "alice")
    await h.say("alice", "backup front desk")
    await h.say("carol", "On my way!")
    assert "Carol Jones" in card(h, "alice", "Backup asked for")
    assert "on your way" in h.last("carol").text
    await h.say("bob", "cant come")
    assert h.last("bob").text == "Okay, noted that you can't come."
    answers = await h.query("SELECT person, answer FROM backup_answers ORDER BY person")
    assert [tuple(r) for r in answers] == [("bob", "cant"), ("carol", "coming")]


async def test_a_typed_label_of_an_older_card_gets_a_hint(harness):
    h = harness
    await on_shift(h, "carol", "alice")
    await h.say("alice", "backup front desk")
    await h.say("alice", "Is Mr Brown in today?")  # carol's newest card is now the alert
    await h.say("carol", "on my way")
    hint = h.last("carol").text
    assert "On my way" in hint and "BACKUP WANTED" in hint
    assert (await h.query("SELECT answer FROM backup_answers WHERE person='carol'"))[0][0] is None
    assert buttons(h, "carol", "Where / what: front desk") == ["On my way", "Can't come"]


# --- 9. the docs say who may lock down an area or all -----------------------------------------
def test_docs_agree_that_areas_and_all_are_for_admins():
    guide = (ROOT / "docs" / "duty-manager-guide.md").read_text()
    perms = (ROOT / "docs" / "permissions.md").read_text()
    assert "an area or `all` only an admin" in guide
    assert "an area or `all` only an admin" in perms


# --- 10. times and wording ------------------------------------------------------------------------
async def test_cover_until_an_earlier_time_says_tomorrow(harness):
    h = harness
    await h.advance(4 * 3600 + 45 * 60)  # 19:15
    await h.say("fran", "cover until 17:00")
    assert "until tomorrow 17:00" in h.last("fran").text
    await h.say("fran", "cover until 21:00")
    assert "until 21:00." in h.last("fran").text


async def test_form_put_aside_with_no_answers_says_so(harness):
    h = harness
    await h.say("alice", "log shouting")
    await h.press("alice", "Complete form")
    await h.say("alice", "cancel")
    text = h.last("alice").text
    assert "0 answer" not in text and "answer(s)" not in text


async def test_incident_list_says_stub_once(harness):
    h = harness
    await h.say("alice", "log shouting at the desk")
    await h.say("alice", "incidents")
    line = h.last("alice").text.splitlines()[1]
    assert line.count("stub") == 1 and "shouting at the desk" in line


async def test_overdue_under_a_minute_is_said_in_seconds(db, clock, tmp_path):
    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    book["lone_working"].update({"reminder_lead": "10s", "grace": "20s"})
    path = tmp_path / "codewords.yaml"
    path.write_text(yaml.safe_dump(book))
    h = await start_with(db, clock, codewords_file=path)
    try:
        await h.say("alice", "lone 2m closing up")
        await h.advance(2 * 60 + 21)
        details = (await h.query("SELECT details FROM alerts"))[0][0]
        assert "Overdue: 0 min" not in details and "Overdue: 21 s" in details
    finally:
        await h.engine.stop()


def test_check_config_counts_one_branch_as_one_branch(tmp_path, capsys):
    from bot.cli import cmd_check_config
    from tests.conftest import make_settings

    service = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
    service["branches"] = {"central": service["branches"]["central"]}
    service["people"] = {k: v for k, v in service["people"].items() if v.get("branch") in (None, "central")}
    service["rota"] = [r for r in service["rota"] if r.get("branch") == "central"]
    service["overrides"] = []
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(service))
    settings = make_settings(tmp_path / "x.db")
    settings = settings.model_copy(update={"service_file": path})
    cmd_check_config(None, settings)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "1 branch," in out and "1 branches" not in out


# --- 6. console buttons are numbered per phone ------------------------------------------------------
async def test_console_numbers_each_phones_buttons_from_one(tmp_path, clock):
    from tests.test_console import start_console, type_line

    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "@carol on shift")
        await type_line(engine, console, "@alice Is Mr Brown in today?")  # the README tour
        carol = out.getvalue().split("--> Carol Jones")[-1]
        bob = out.getvalue().split("--> Bob Green")[-1]
        assert "[1] Acknowledge  [2] Resolve  [3] Call police?" in carol
        assert "[1] Acknowledge  [2] Resolve  [3] Call police?" in bob
        await type_line(engine, console, "@bob 1")
        assert "Acknowledged by Bob Green" in out.getvalue()
        assert "didn't understand" not in out.getvalue()
        await type_line(engine, console, "help")
        assert "@name help" in out.getvalue()
    finally:
        await engine.stop()


# --- the same class elsewhere: a duress alert about a duty manager never shows on their phone ---------
async def test_a_duty_managers_duress_finish_never_shows_to_them(harness):
    h = harness
    await h.say("bob", "lone 45m home visit")
    await h.say("bob", "finished for the day")
    alert_id = (await h.query("SELECT id FROM alerts WHERE kind='lone_duress'"))[0][0]
    await h.say("bob", "alerts")
    assert "Duress" not in h.last("bob").text
    await h.say("bob", f"timeline {alert_id}")
    assert "Duress" not in h.last("bob").text
    await h.press("dana", "Resolve")
    ref = (await h.query("SELECT ref FROM incidents"))[0][0]
    await h.say("bob", "incidents")
    assert ref not in h.last("bob").text
    await h.say("bob", f"incident {ref}")
    assert "Duress" not in h.last("bob").text
    assert not any("Duress" in t or "duress" in t for t in h.texts("bob"))
    await h.say("fran", "incidents")  # an admin or another manager still sees the record
    await h.say("dana", f"incident {ref}")
    assert "Duress" in h.last("dana").text


async def test_a_welfare_checklist_about_a_manager_goes_to_another_manager(harness):
    h = harness
    await h.say("bob", "log man pushed me at the desk")
    await h.press("bob", "Complete form")
    await fill_form(h, "bob", assault(None))
    assert not any("Welfare checklist" in t for t in h.texts("bob"))  # it plans check-ins on him
    assert any("Welfare checklist" in d.text for d in h.transport.to("dana"))
