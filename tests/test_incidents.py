"""Incidents: stub -> reminders -> form on every transport -> review -> export; access; validation."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json

from bot.clock import FakeClock
from bot.messages import Inbound
from bot.transports.memory import MemoryTransport
from handlers.report import export_rows
from tests.conftest import AFTERNOON, ROOT, Harness, settle, start_engine

HOUR = 3600
REF = "INC-2026-0001"

# typed answers for the 18 questions, in order (None = press Skip)
ANSWERS = [
    "2026-11-25 14:20",  # date and time
    "enquiry desk",  # location
    "1",  # category: verbal abuse (by number)
    "staff",  # who was affected
    None,  # names of colleagues affected
    "He shouted at me about a fine and banged the desk.",
    "Man in red coat, about 40, short grey hair",
    None,  # triggers
    "I'll be waiting for you outside",
    "none",  # injuries
    None,  # first aid
    "yes",  # police informed
    "CR/1234/26",  # crime reference
    "CCTV camera 3 covers the desk",
    None,  # witnesses
    "Asked him to leave; security walked him out",
    "yes",  # ban recommended
    "no",  # welfare support
]


async def fill_form(h: Harness, who: str, answers=ANSWERS, submit: bool = True) -> None:
    for a in answers:
        if a is None:
            await h.press(who, "Skip")
        else:
            await h.say(who, a)
    if submit:
        await h.press(who, "Submit report")


async def test_stub_reminders_console_form_review_and_export(harness):
    h = harness
    await h.say("alice", "log shouting at the enquiry desk, man in red coat")
    reply = h.last("alice")
    assert REF in reply.text and "Central Library" in reply.text
    assert [b.label for b in reply.buttons] == ["Complete form"]
    stub = (await h.query("SELECT reporter, branch, text, status FROM incidents"))[0]
    assert tuple(stub) == ("alice", "central", "shouting at the enquiry desk, man in red coat", "stub")

    await h.advance(2 * HOUR)  # first reminder after 2 h
    assert "Reminder: please complete the incident form for " + REF in h.last("alice").text
    assert h.last("alice").buttons[0].label == "Complete form"
    await h.advance(22 * HOUR)  # 24 h: the duty manager hears of it
    assert any(REF in t and "still has no completed form" in t for t in h.texts("bob"))
    await h.advance(2 * HOUR)  # then daily reminders to the reporter
    assert sum("Reminder" in t for t in h.texts("alice")) == 2

    await h.press("alice", "Complete form")
    assert "question 1 of 18" in h.last("alice").text
    await fill_form(h, "alice", submit=False)
    summary = h.last("alice").text
    assert "please check your answers" in summary and "Category: verbal abuse" in summary
    await h.press("alice", "Submit report")
    assert f"{REF} is complete" in h.last("alice").text
    assert f"{REF} form completed by Alice Smith" in h.last("bob").text

    await h.advance(3 * 24 * HOUR)  # no more reminders once complete
    assert sum("Reminder" in t for t in h.texts("alice")) == 2

    # review by the duty manager
    await h.say("bob", "incidents unreviewed")
    assert REF in h.last("bob").text and "verbal abuse" in h.last("bob").text
    await h.say("bob", f"incident {REF}")
    full = h.last("bob").text
    assert "The words used, verbatim: I'll be waiting for you outside" in full
    assert "Police reference: CR/1234/26" in full
    await h.say("bob", f"incident {REF} note Spoke to PCSO, patrols increased")
    await h.say("bob", f"incident {REF} police CR/9999/26")
    await h.press("bob", "Mark reviewed")  # the button on the full view
    assert f"{REF} marked reviewed" in h.last("bob").text
    row = (await h.query("SELECT status, reviewed_by, police_ref, completed_via FROM incidents"))[0]
    assert tuple(row) == ("reviewed", "bob", "CR/9999/26", "console")
    assert (await h.query("SELECT reader, ref, action FROM incident_audit"))[0][:] == ("bob", REF, "read")

    # the export contains it, with local times and the note
    rows = await h.engine.store.run(export_rows, 0, AFTERNOON + 30 * 24 * HOUR, h.clock.tz,
                                    {"alice": "Alice Smith", "bob": "Bob Green"}, h.engine.directory.branch_name,
                                    "cli:test", h.clock.now())
    assert len(rows) == 1
    r = rows[0]
    assert r["ref"] == REF and r["reporter"] == "Alice Smith" and r["drill"] == "no"
    assert r["occurred_at"] == "2026-11-25 14:20" and r["logged_at"] == "2026-11-25 14:30"
    assert "patrols increased" in r["notes"] and r["status"] == "reviewed"


async def test_invalid_answers_are_reasked_with_a_clear_message(harness):
    h = harness
    await h.say("alice", "log man shouting")
    await h.press("alice", "Complete form")
    await h.say("alice", "2027-01-01 10:00")
    assert "in the future" in h.last("alice").text and "question 1 of 18" in h.last("alice").text
    await h.say("alice", "yesterday-ish")
    assert "Please give the date and time like" in h.last("alice").text
    await h.press("alice", "Now")
    assert "question 2 of 18" in h.last("alice").text
    await h.press("alice", "Back")
    assert "question 1 of 18" in h.last("alice").text and "Your answer so far: 2026-11-25 14:30" in h.last(
        "alice").text
    await h.say("alice", "14:25")
    await h.say("alice", "the enquiry desk")
    await h.say("alice", "shoplifting")  # not a choice
    last = h.last("alice")
    assert "Please pick one of: verbal abuse, threat, physical assault" in last.text
    assert "question 3 of 18" in last.text and "physical assault" in [b.label for b in last.buttons]
    await h.press("alice", "theft")
    await h.press("alice", "Cancel")  # put aside; answers kept
    assert "your 3 answers are kept" in h.last("alice").text
    await h.say("alice", "staff")  # no longer caught as an answer: help instead
    assert "question" not in h.last("alice").text
    await h.say("alice", "resume")
    assert "question 4 of 18" in h.last("alice").text
    await h.say("alice", "staff")
    await h.press("alice", "Skip")  # optional names
    await h.say("alice", "Took a laptop from table 4")
    await h.say("alice", "He showed his library card 2900 0123 4567 89")
    assert "looks like a library card number" in h.last("alice").text
    assert "question 7 of 18" in h.last("alice").text
    await h.say("alice", "skip")  # required: refused (there is no Skip button on this one)
    assert "is needed, so it can't be skipped" in h.last("alice").text
    drafts = await h.query("SELECT pos, answers FROM incident_drafts")
    assert drafts[0][0] == 6 and json.loads(drafts[0][1])["category"] == "theft"


async def test_log_refuses_card_numbers_and_empty_text(harness):
    await harness.say("alice", "log")
    assert "log shouting at the enquiry desk" in harness.last("alice").text
    await harness.say("alice", "log card 29000123456789 used by the man")
    assert "Nothing was logged" in harness.last("alice").text
    assert await harness.query("SELECT * FROM incidents") == []


async def test_telegram_form_resumes_after_restart(tmp_path, db):
    db = db

    async def telegram(clock: FakeClock) -> Harness:
        h = await start_engine(db, clock, MemoryTransport("telegram"))
        h.engine.directory.bind("alice", "telegram", "1001")
        h.engine.directory.bind("bob", "telegram", "2002")
        h.transport._events = itertools.count(int(clock.now()))  # fresh event ids, as Telegram's would be
        return h

    clock = FakeClock(AFTERNOON)
    first = await telegram(clock)
    try:
        await first.say("1001", "/log man in red coat threatening staff at the door")
        assert REF in first.last("1001").text
        await first.press("1001", "Complete form")
        await fill_form(first, "1001", ANSWERS[:5], submit=False)
        assert "question 6 of 18" in first.last("1001").text
    finally:
        await first.engine.stop()

    second = await telegram(FakeClock(AFTERNOON + HOUR))
    try:
        await second.say("1001", "resume")
        assert "where you left off" in second.texts("1001")[-2]
        assert "question 6 of 18" in second.last("1001").text
        await fill_form(second, "1001", ANSWERS[5:])
        assert f"{REF} is complete" in second.last("1001").text
        assert f"{REF} form completed by Alice Smith" in second.last("2002").text
        row = (await second.query("SELECT status, completed_via, answers FROM incidents"))[0]
        assert row[0] == "complete" and row[1] == "telegram"
        assert json.loads(row[2])["location"] == "enquiry desk"
        await second.say("2002", f"incident {REF} reviewed")  # the manager reviews it on Telegram
        assert f"{REF} marked reviewed" in second.last("2002").text
        rows = await second.engine.store.run(export_rows, 0, AFTERNOON + 2 * HOUR, second.clock.tz, {},
                                             second.engine.directory.branch_name, "cli:test", second.clock.now())
        assert rows[0]["completed_via"] == "telegram" and rows[0]["status"] == "reviewed"
    finally:
        await second.engine.stop()


SLACK_VALUES = {
    "occurred_at": "25/11/2026 14:10", "location": "children's library", "category": "Physical assault",
    "affected": "staff", "affected_names": "Carol", "what_happened": "He pushed Carol against the shelves.",
    "person_description": "Tall man, green hoodie", "injuries": "bruised arm (Carol)", "first_aid": "ice pack",
    "police_informed": "yes", "crime_ref": "", "actions_taken": "Called 999", "ban_recommended": "yes",
    "welfare_support": "yes",
}


async def test_slack_modal_submission_validates_and_completes(tmp_path, clock, db):
    h = await start_engine(db, clock, MemoryTransport("slack"))
    try:
        h.engine.directory.bind("alice", "slack", "UALICE")
        h.engine.directory.bind("bob", "slack", "UBOB")
        await h.say("UALICE", "log man pushed Carol in the children's library")

        async def submit(values, event):
            await h.engine.receive(Inbound(platform="slack", event_id=event, user_id="UALICE", chat_id="UALICE",
                                           form="incident", arg=REF, values=values))
            await settle(h.engine)

        await submit({**SLACK_VALUES, "occurred_at": "2026-12-25 10:00", "category": "fighting"}, "v1")
        bad = h.last("UALICE").text
        assert "not saved" in bad and "in the future" in bad and "Please pick one of" in bad
        await submit(SLACK_VALUES, "v2")
        assert f"{REF} is complete" in h.last("UALICE").text
        row = (await h.query("SELECT status, completed_via, category, serious FROM incidents"))[0]
        assert tuple(row) == ("complete", "slack", "physical assault", 1)
        assert any("Alice Smith would like welfare support" in t for t in h.texts("UBOB"))
        rows = await h.engine.store.run(export_rows, 0, AFTERNOON + HOUR, h.clock.tz, {},
                                        h.engine.directory.branch_name, "cli:test", h.clock.now())
        assert rows[0]["completed_via"] == "slack" and rows[0]["injuries"] == "bruised arm (Carol)"
    finally:
        await h.engine.stop()


async def test_access_volunteer_and_other_branch_cannot_read(harness):
    h = harness
    await h.say("alice", "log shouting at the desk")
    await h.say("vic", "log someone spat at me")
    assert "INC-2026-0002" in h.last("vic").text  # volunteers can report
    for words in ("incidents", "incident INC-2026-0001", "incident INC-2026-0002"):
        await h.say("vic", words)
        assert "not something your role can do" in h.last("vic").text
    await h.say("fran", "incident INC-2026-0001")  # duty manager at Riverside
    assert "can't find an incident" in h.last("fran").text
    await h.say("fran", "incidents")
    assert "No incidents" in h.last("fran").text
    await h.say("carol", "incident INC-2026-0001")  # staff, same branch, not hers
    assert "can't find an incident" in h.last("carol").text
    await h.say("alice", "incident INC-2026-0001")
    assert "Logged: shouting at the desk" in h.last("alice").text
    await h.say("alice", "incident INC-2026-0001 reviewed")
    assert "Only a duty manager" in h.last("alice").text
    await h.say("dana", "incident inc-2026-0002")  # admins read all
    assert "Logged: someone spat at me" in h.last("dana").text
    await h.say("bob", "incidents")
    assert "INC-2026-0001" in h.last("bob").text and "INC-2026-0002" in h.last("bob").text
    readers = await h.query("SELECT reader, ref FROM incident_audit ORDER BY id")
    assert [tuple(r) for r in readers] == [("alice", "INC-2026-0001"), ("dana", "INC-2026-0002")]


async def test_resolved_alert_becomes_a_linked_stub(harness):
    h = harness
    await h.say("alice", "Is Mr Brown in today?")
    await h.press("bob", "Acknowledge")
    await h.press("bob", "Resolve")
    offer = h.last("alice")
    assert REF in offer.text and offer.buttons[0].label == "Complete form"
    row = (await h.query("SELECT reporter, alert_id, drill, text FROM incidents"))[0]
    assert row[0] == "alice" and row[1] == 1 and row[2] == 0
    assert "acknowledged by Bob Green" in row[3] and "resolved by Bob Green" in row[3]


async def test_drill_alert_stub_is_marked_drill_in_export(harness):
    h = harness
    await h.engine.store.run(lambda c: c.execute("INSERT INTO drills(branch, since) VALUES('central', 0)"))
    await h.say("alice", "Is Mr Brown in today?")
    await h.press("bob", "Resolve")
    assert h.last("alice").text.startswith("[DRILL]")
    rows = await h.engine.store.run(export_rows, 0, AFTERNOON + HOUR, h.clock.tz, {},
                                    h.engine.directory.branch_name, "cli:test", h.clock.now())
    assert rows[0]["drill"] == "yes"


def run_cli(monkeypatch, db, *argv: str):
    from bot import cli

    monkeypatch.setenv("SAFERBOT_DB", str(db))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    return cli.main(list(argv))


async def test_cli_export_csv_and_json(harness, monkeypatch, tmp_path, capsys):
    h = harness
    await h.say("alice", "log =HYPERLINK(\"x\") shouted at me, £5 fine, café")
    await h.say("alice", "Is Mr Brown in today?")
    await h.press("bob", "Resolve")
    out = tmp_path / "q4.csv"
    code = await asyncio.to_thread(run_cli, monkeypatch, h.db, "export", "incidents", "--from", "2026-11-01",
                                   "--to", "2026-11-30", "--format", "csv", "--out", str(out))
    assert code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel shows the pound sign and accents
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["ref"] for r in rows] == ["INC-2026-0001", "INC-2026-0002"]
    assert rows[0]["logged_text"].startswith("'=HYPERLINK") and "café" in rows[0]["logged_text"]
    assert rows[0]["logged_at"] == "2026-11-25 14:30" and rows[0]["drill"] == "no"
    assert rows[1]["alert_id"] == "1"
    empty = tmp_path / "empty.json"
    await asyncio.to_thread(run_cli, monkeypatch, h.db, "export", "incidents", "--from", "2026-01-01",
                            "--to", "2026-03-31", "--format", "json", "--out", str(empty))
    assert json.loads(empty.read_text())["incidents"] == []
    audit = await h.query("SELECT reader, action FROM incident_audit")
    assert len(audit) == 2 and audit[0][0].startswith("cli:") and audit[0][1] == "export"


async def test_form_answers_that_start_with_command_words_stay_answers(harness):
    h = harness
    await h.say("alice", "log shouting")
    await h.press("alice", "Complete form")
    await h.say("alice", "now")
    await h.say("alice", "on the stairs by the lift")  # 'on' is also the on-shift command
    assert "question 3 of 18" in h.last("alice").text
    assert await h.query("SELECT * FROM shifts") == []
    await h.say("alice", "help")  # a lone command word still works mid-form
    assert "You can send" in h.last("alice").text
    await h.say("alice", "Is Mr Brown in today?")  # a codeword always raises the alert
    assert "Aggressive" in h.last("bob").text
    await h.say("alice", "backup front desk please")  # a safety command is never taken as an answer
    assert any(t.startswith("BACKUP WANTED: Alice Smith") for t in h.texts("bob"))
    await h.say("alice", "threat")  # and the form carries on
    assert "question 4 of 18" in h.last("alice").text
    draft = await h.query("SELECT answers FROM incident_drafts")
    assert json.loads(draft[0][0])["location"] == "on the stairs by the lift"


async def test_in_a_group_the_form_and_incidents_go_privately(harness):
    h = harness
    await h.say("alice", "/log shouting at the desk", chat="staffroom", is_group=True)
    assert REF in h.transport.to("staffroom")[-1].text
    await h.say("alice", action="incident.form", arg=REF, chat="staffroom", is_group=True)
    assert "question 1 of 18" in h.last("alice").text  # the questions come to Alice directly
    await h.say("bob", f"/incident {REF}", chat="staffroom", is_group=True)
    assert "sent INC-2026-0001 to you privately" in h.transport.to("staffroom")[-1].text
    assert "Logged: shouting at the desk" in h.last("bob").text
    assert not any("Logged:" in d.text for d in h.transport.to("staffroom"))


async def test_odd_input_never_crashes(harness):
    h = harness
    await h.say("alice", "log something happened")
    for who, text in [("bob", "incident"), ("bob", "incident nonsense words"), ("bob", "incident INC-"),
                      ("bob", f"incident {REF} frobnicate"), ("bob", f"incident {REF} note"),
                      ("bob", f"incident {REF} police"), ("bob", "report"), ("bob", "report month 2026-1"),
                      ("alice", "resume INC-9999-0001"), ("alice", "log " + "x" * 3000)]:
        await h.say(who, text)
        assert "Sorry, I could not do that" not in h.last(who).text, text
    for action, arg in [("incident.step", "abc"), ("incident.step", "1:99:c5"), ("incident.step", "99:0:back"),
                        ("incident.form", ""), ("incident.read", "INC-1"), ("welfare.tick", "x:y"),
                        ("welfare.answer", "1:bad"), ("welfare.answer", "zz"), ("incident.reviewed", REF)]:
        await h.say("bob", action=action, arg=arg)
        assert "Sorry, I could not do that" not in h.last("bob").text, (action, arg)
    await h.press("alice", "Complete form")
    await h.say("alice", action="incident.step", arg="1:0:c9")  # not a choice on this question
    assert "question 1 of 18" in h.last("alice").text


async def test_reminder_time_is_configurable_and_home_shows_open_stubs(tmp_path, clock, db):
    h = await start_engine(db, clock, incident_reminder_first="30m")
    try:
        await h.say("alice", "log man shouting")
        assert "remind you in 30 minutes" in h.last("alice").text
        await h.advance(29 * 60)
        assert "Reminder" not in h.last("alice").text
        await h.advance(60)
        assert "Reminder: please complete" in h.last("alice").text
        alice = h.engine.directory.person("alice")
        assert any(REF in line and "resume" in line for line in await h.engine.home(alice))
        await h.press("alice", "Complete form")
        await fill_form(h, "alice")
        assert not any(REF in line for line in await h.engine.home(alice))
        bob = h.engine.directory.person("bob")
        assert "1 incident(s) waiting for your review" in " ".join(await h.engine.home(bob))
    finally:
        await h.engine.stop()


async def test_weekend_cover_manager_can_read_and_review_that_branch(harness):
    h = harness
    await h.say("erin", "log graffiti in the toilets")  # Riverside; Bob covers it at weekends
    await h.say("bob", "incident INC-2026-0001")
    assert "Logged: graffiti in the toilets" in h.last("bob").text
    await h.say("bob", "incident INC-2026-0001 note photographed and cleaned")
    assert "Note added" in h.last("bob").text
    await h.say("fran", "incident INC-2026-0001")
    assert "Note by Bob Green" in h.last("fran").text
