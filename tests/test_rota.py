"""Duty rota and shifts: pattern, dated override, area entries, cover, working hours, gap -> fallback."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.book import ConfigError, load_service
from bot.clock import FakeClock
from bot.compose import build_app
from bot.directory import Directory, apply_overlay
from bot.store import migrate
from tests.conftest import ROOT, start_engine

LONDON = ZoneInfo("Europe/London")
SERVICE = """
timezone: Europe/London
branches:
  central: {name: Central Library, area: north}
  hill: {name: Hill Library, area: north}
  riverside: {name: Riverside Library, area: south}
people:
  bob: {name: Bob Green, role: duty_manager, branch: central}
  fran: {name: Fran Okafor, role: duty_manager, branch: riverside}
  hana: {name: Hana Ito, role: duty_manager, branch: hill}
  sam: {name: Sam Reid, role: staff, branch: hill, hours: [{days: [mon, tue, wed], from: "09:00", to: "17:00"}]}
  tom: {name: Tom Ray, role: staff, branch: hill}
rota:
  - {branch: central, person: bob, days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
  - {area: north, person: hana, days: [mon, tue, wed, thu, fri, sat, sun], from: "08:00", to: "20:00"}
  - {branch: riverside, person: fran, days: [wed], from: "08:00", to: "20:00"}
overrides:
  - {date: 2026-12-24, branch: central, person: hana, from: "09:00", to: "13:00"}
"""


def at(y, mo, d, h, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LONDON)


@pytest.fixture
def rota(tmp_path):
    path = tmp_path / "service.yaml"
    path.write_text(SERVICE)
    directory = Directory(load_service(path), build_app().duty)  # the duty as the App hands it to the engine
    conn = sqlite3.connect(tmp_path / "rota.db", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    yield directory, conn
    conn.close()


def test_weekly_pattern_area_entry_and_dated_override(rota):
    d, conn = rota
    wed_afternoon = at(2026, 11, 25, 14, 30)
    assert d.duty_managers(conn, "central", wed_afternoon) == ["bob"]  # the branch's own pattern
    assert d.duty_managers(conn, "hill", wed_afternoon) == ["hana"]  # the area's pattern covers Hill
    assert d.duty_managers(conn, "central", at(2026, 11, 25, 18)) == ["hana"]  # Bob's hours over: area fills in
    assert d.duty_managers(conn, "riverside", wed_afternoon) == ["fran"]
    assert d.duty_managers(conn, "riverside", at(2026, 11, 26, 14)) == []  # Thursday: nobody (a gap)
    # Christmas Eve: the dated override replaces the pattern that day, hours and all
    assert d.duty_managers(conn, "central", at(2026, 12, 24, 10)) == ["hana"]
    assert d.duty_managers(conn, "central", at(2026, 12, 24, 14)) == []


def test_cover_beats_the_rota_until_it_ends(rota):
    d, conn = rota
    now = at(2026, 11, 25, 14, 30)
    conn.execute("INSERT INTO covers(person, branch, start, until) VALUES('fran','central',?,?)",
                 (now.timestamp() - 60, at(2026, 11, 25, 17).timestamp()))
    assert d.duty_managers(conn, "central", now) == ["fran"]  # not Bob, although he is on the rota
    assert d.duty_managers(conn, "central", at(2026, 11, 25, 16, 59)) == ["fran"]
    assert d.duty_managers(conn, "central", at(2026, 11, 25, 17, 1)) == ["hana"]  # cover over: the rota again


def test_shift_from_statement_or_working_hours(rota):
    d, conn = rota
    d.shift_expiry = 14 * 3600
    wed = at(2026, 11, 25, 10)
    thu = at(2026, 11, 26, 10)
    assert d.on_shift(conn, "hill", wed) == ["sam"]  # Sam's hours say so; Tom said nothing
    assert d.on_shift(conn, "hill", thu) == []  # not one of Sam's days
    conn.execute("INSERT INTO shifts(person, on_shift, since) VALUES('sam', 0, ?)", (wed.timestamp() - 60,))
    conn.execute("INSERT INTO shifts(person, on_shift, since) VALUES('tom', 1, ?)", (wed.timestamp() - 60,))
    assert d.on_shift(conn, "hill", wed) == ["tom"]  # their own word beats the hours
    next_wed = at(2026, 12, 2, 10)
    assert d.on_shift(conn, "hill", next_wed) == ["sam"]  # a forgotten statement expires; hours decide again


def test_each_duty_question_is_one_query(rota):
    """The duty-manager lookup runs for every alert: asking the roster through the App's duty costs what
    reading its tables did, one statement for cover, one for on/off statements, two for roster edits."""
    d, conn = rota
    d.shift_expiry = 14 * 3600
    wed = at(2026, 11, 25, 14, 30)
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    counts = []
    for ask in (lambda: d.duty_managers(conn, "central", wed), lambda: d.on_shift(conn, "hill", wed),
                lambda: d.is_on_shift(conn, d.person("sam"), wed.timestamp()), lambda: apply_overlay(d, conn)):
        seen.clear()
        ask()
        counts.append(len(seen))
    conn.set_trace_callback(None)
    assert counts == [1, 1, 1, 2]
    assert d.duty_managers(None, "central", wed) == ["bob"]  # no store (the emergency path): the rota alone


def test_service_file_checks_rota_areas_and_hours(tmp_path):
    bad = SERVICE.replace("{area: north, person: hana", "{area: norht, person: hana").replace(
        'from: "09:00", to: "17:00"}]}', 'from: "17:00", to: "09:00"}]}')
    bad = bad.replace("{branch: riverside, person: fran", "{branch: riverside, area: south, person: fran")
    path = tmp_path / "service.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as e:
        load_service(path)
    text = str(e.value)
    assert "unknown area 'norht'" in text and ":15:" in text
    assert "working hours ending before they start" in text and ":11:" in text
    assert "needs either a branch or an area" in text and ":16:" in text


async def test_gap_uses_fallback_and_shows_on_timeline(tmp_path, db):
    """Riverside at 21:00 on a Wednesday: nobody on the rota, so the admins get the alert."""
    clock = FakeClock(at(2026, 11, 25, 21).timestamp())
    h = await start_engine(db, clock)
    try:
        await h.say("erin", "Is Mr Brown in today?")
        assert "Aggressive" in h.last("dana").text  # the fallback: role:admin
        assert h.sent("fran") == []
        await h.say("dana", "timeline 1")
        timeline = h.last("dana").text
        assert "no duty manager on the rota for Riverside Library now" in timeline
        assert "using the fallback (role:admin)" in timeline
    finally:
        await h.engine.stop()


async def test_cover_is_used_by_the_ladder_at_once(tmp_path, db):
    clock = FakeClock(at(2026, 11, 25, 21).timestamp())
    h = await start_engine(db, clock)
    try:
        await h.say("fran", "cover until 23:00")
        assert h.last("fran").text.startswith("You are duty manager for Riverside Library until 23:00.")
        await h.say("erin", "onduty")
        assert "Duty manager: Fran Okafor (+44 7700 900005) (covering until 23:00)" in h.last("erin").text
        await h.say("erin", "Is Mr Brown in today?")
        assert "Aggressive" in h.last("fran").text
        assert h.sent("dana") == []  # no gap, no fallback
        await h.say("fran", "cover end")
        assert "Duty manager for Riverside Library is now nobody" in h.last("fran").text
    finally:
        await h.engine.stop()


async def test_cover_beats_rota_in_chat_and_staff_cannot_cover(harness):
    await harness.say("carol", "cover until 17:00")
    assert harness.last("carol").text == "Sorry, that is not something your role can do here."
    await harness.say("dana", "cover central until 17:00")
    await harness.say("alice", "onduty")
    assert "Duty manager: Dana Hughes" in harness.last("alice").text and "Bob" not in harness.last("alice").text
    await harness.say("alice", "Is Mr Brown in today?")
    assert "Aggressive" in harness.last("dana").text
    assert harness.sent("bob") == []  # the rota's duty manager is covered for


async def test_onduty_and_shift_status(harness):
    await harness.say("carol", "on shift")
    await harness.say("vic", "onduty")
    text = harness.last("vic").text
    assert "Central Library, 14:30" in text and "Duty manager: Bob Green" in text
    assert "+44" not in text and "On shift" not in text  # volunteers: names only
    await harness.say("alice", "onduty")
    assert "Bob Green (+44 7700 900003)" in harness.last("alice").text
    assert "On shift: Carol Jones" in harness.last("alice").text
    await harness.say("carol", "shift")
    assert harness.last("carol").text.startswith("You are on shift.")


def test_example_service_still_loads():
    service = load_service(Path(ROOT / "config" / "service.example.yaml"))
    assert {"alice", "carol", "vic", "bob", "erin", "fran", "dana"} <= set(service.people)


async def test_cover_times_are_read_like_people_write_them(harness):
    for said, until in (("cover until 17", "17:00"), ("cover till 5pm", "17:00"), ("cover 2h", "16:30"),
                        ("cover until 9:15", "tomorrow 09:15")):  # 9:15 has passed today: tomorrow morning
        await harness.say("bob", said)
        assert harness.last("bob").text.startswith(f"You are duty manager for Central Library until {until}."), said
    await harness.say("bob", "cover until teatime")
    assert harness.last("bob").text.startswith("Say until when")
    covers = await harness.query("SELECT COUNT(*) FROM covers WHERE ended_at IS NULL")
    assert covers[0][0] == 1  # each new cover replaced the last


async def test_on_followed_by_prose_goes_to_an_open_conversation(harness):
    from bot.registry import Group, Reader

    READERS = harness.engine.app.readers
    taken = []

    def form_answer(tx, person, msg):
        if msg.text.startswith("On Tuesday"):
            taken.append(msg.text)
            return True
        return False

    reader = Reader(Group.ANSWER, form_answer, "tests", frozenset(), False)
    READERS.append(reader)
    try:
        await harness.say("alice", "On Tuesday a man shouted at me")
        assert taken == ["On Tuesday a man shouted at me"]
        assert harness.sent("alice") == []  # no "Say 'on shift'" reply, no shift change
        await harness.say("alice", "on the desk")
        assert harness.last("alice").text == "Say 'on shift' or 'off shift'."
    finally:
        READERS.remove(reader)
