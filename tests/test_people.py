"""Roster edits from chat and the command line: saved, audited, used at once, kept across restarts."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from tests.conftest import ROOT, start_engine


async def test_admin_adds_changes_and_removes_people_in_chat(harness):
    await harness.say("dana", 'person add ann name="Ann Lee" role=staff branch=central phone="+44 7700 900010"')
    assert harness.last("dana").text.startswith("Saved: added Ann Lee (staff, central).")

    await harness.say("ann", "on shift")  # the console finds her by key: she can use the bot at once
    assert harness.last("ann").text == "You are on shift at Central Library."
    await harness.say("alice", "Is Mr Brown in today?")
    assert "Aggressive" in harness.last("ann").text  # on shift at the branch: the ladder reaches her

    await harness.say("dana", "person set ann role=duty_manager")
    assert harness.last("dana").text == "Saved: changed Ann Lee: role staff -> duty manager."
    await harness.say("ann", "cover until 17:00")
    assert harness.last("ann").text.startswith("You are duty manager for Central Library until 17:00.")

    await harness.say("dana", "person remove ann")
    assert harness.last("dana").text == "Saved: removed Ann Lee."
    await harness.say("ann", "hello")
    assert "This number is for library staff" in harness.last("ann").text

    rows = await harness.query("SELECT by, via, person, action, before, after FROM roster_audit ORDER BY id")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("dana", "chat", "ann", "add"), ("dana", "chat", "ann", "set"), ("dana", "chat", "ann", "remove")]
    assert rows[0][4] is None and json.loads(rows[0][5])["phone"] == "+44 7700 900010"
    assert json.loads(rows[1][4])["role"] == "staff" and json.loads(rows[1][5])["role"] == "duty_manager"
    assert json.loads(rows[2][4])["name"] == "Ann Lee" and rows[2][5] is None

    await harness.say("dana", "roster history ann")
    history = harness.last("dana").text
    assert "dana (chat): removed Ann Lee" in history and "dana (chat): added Ann Lee (staff, central)" in history


async def test_bad_edits_are_refused_and_change_nothing(harness):
    await harness.say("dana", "person add ann role=staff")
    assert harness.last("dana").text == "Not changed: a new person needs name=...."
    await harness.say("dana", "person set alice branch=atlantis")
    assert harness.last("dana").text.startswith("Not changed: unknown branch 'atlantis'")
    await harness.say("dana", "person set alice role=boss")
    assert harness.last("dana").text.startswith("Not changed: unknown role 'boss'")
    await harness.say("dana", "person set dana role=staff")
    assert "no admin" in harness.last("dana").text
    await harness.say("dana", "person remove dana")
    assert harness.last("dana").text == "You cannot remove yourself; ask another admin."
    await harness.say("bob", "person remove alice")
    assert harness.last("bob").text == "Sorry, that is not something your role can do here."
    assert (await harness.query("SELECT COUNT(*) FROM roster_audit"))[0][0] == 0


async def test_removing_a_rota_manager_warns(harness):
    await harness.say("dana", "person set fran role=staff")
    assert "They are on the duty rota, which will skip them now" in harness.last("dana").text
    await harness.say("erin", "onduty")
    assert "nobody on the rota now" in harness.last("erin").text


async def test_roster_list_phones_for_managers_only_own_branch(harness):
    await harness.say("bob", "roster")
    text = harness.last("bob").text
    assert text.startswith("Roster, Central Library")
    assert "vic: Vic Patel, volunteer, Central Library" in text and "alice: Alice Smith, staff, Central Library, " \
        "+44 7700 900001" in text
    assert "Erin" not in text
    await harness.say("bob", "roster riverside")
    assert harness.last("bob").text == "You can see the roster of your own branch."
    await harness.say("dana", "roster")
    assert "Erin Shah" in harness.last("dana").text and "Alice Smith" in harness.last("dana").text


@pytest.fixture
def cli_env(tmp_path, monkeypatch, db):
    monkeypatch.setenv("SAFERBOT_DB", str(db))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    return tmp_path


async def test_command_line_edits_are_audited_and_used_at_next_start(cli_env, clock, capsys, db):
    assert main(["roster", "add", "gus", "name=Gus Bell", "role=staff", "branch=riverside", "--by", "it-desk"]) == 0
    assert "Saved: added Gus Bell (staff, riverside)." in capsys.readouterr().out
    assert main(["roster", "remove", "vic", "--by", "it-desk"]) == 0
    assert main(["roster", "set", "nobody", "role=staff"]) == 1
    assert "not changed: nobody on the roster is called 'nobody'" in capsys.readouterr().out
    assert main(["roster", "list", "riverside"]) == 0
    listing = capsys.readouterr().out
    assert "gus: Gus Bell, staff, Riverside Library" in listing and "erin: Erin Shah" in listing
    assert main(["roster", "history"]) == 0
    history = capsys.readouterr().out
    assert "(for it-desk) (cli): removed Vic Patel" in history and "(for it-desk) (cli): added Gus Bell" in history

    h = await start_engine(db, clock)
    try:
        await h.say("gus", "on shift")
        assert h.last("gus").text == "You are on shift at Riverside Library."
        await h.say("vic", "on shift")
        assert "This number is for library staff" in h.last("vic").text
    finally:
        await h.engine.stop()


async def test_chat_edits_survive_a_restart(tmp_path, clock, db):
    h = await start_engine(db, clock)
    await h.say("dana", "person set carol role=duty_manager")
    await h.engine.stop()
    h = await start_engine(db, clock)
    try:
        await h.say("carol", "cover until 18:00", event_id="after-restart")  # a fresh transport counts from e1
        assert h.last("carol").text.startswith("You are duty manager for Central Library until 18:00.")
    finally:
        await h.engine.stop()


def test_overlay_keeps_chat_accounts_from_the_service_file(tmp_path):
    import sqlite3

    from bot.book import load_service
    from bot.compose import build_app
    from bot.directory import Directory, apply_overlay
    from bot.store import migrate
    from handlers.roster import change_roster

    service = load_service(ROOT / "config" / "service.example.yaml")
    people = dict(service.people)
    people["alice"] = people["alice"].model_copy(update={"telegram": 1001})
    service = service.model_copy(update={"people": people})
    conn = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    conn.row_factory = sqlite3.Row
    migrate(conn)
    duty = build_app().duty
    change_roster(conn, Directory(service, duty), action="set", key="alice", fields={"role": "duty_manager"}, by="dana",
                  via="chat", now=0)
    fresh = Directory(service, duty)  # the next start
    apply_overlay(fresh, conn)
    alice = fresh.find("telegram", "1001")
    assert alice is not None and alice.role.value == "duty_manager"
    conn.close()
