"""What staff type on a phone: punctuation, capitals, typos, open forms and odd input (issue 12)."""

from __future__ import annotations

import json

import pytest

from bot.engine import SORRY


async def _open_form_at(harness, who: str, question: int) -> None:
    """Log a stub and open its step-by-step form at question `question` (1: date, 2: location)."""
    await harness.say(who, "log shouting at the desk")
    await harness.press(who, "Complete form")
    if question >= 2:
        await harness.press(who, "Now")
    assert f"question {question} of" in harness.last(who).text


@pytest.mark.parametrize("question", [1, 2])
async def test_im_safe_with_a_form_open_is_a_check_in_not_an_answer(harness, question):
    await harness.say("alice", "lone 45m closing up")
    await _open_form_at(harness, "alice", question)
    await harness.say("alice", "I'm safe")
    assert "checked in" in harness.last("alice").text
    rows = await harness.query("SELECT COUNT(*) FROM lone_events WHERE kind='checkin'")
    assert rows[0][0] == 1
    answers = await harness.query("SELECT answers FROM incident_drafts")
    assert "safe" not in answers[0][0].lower()


@pytest.mark.parametrize("typed", ["Checkin.", "checkin!", "Check in."])
async def test_check_in_with_punctuation(harness, typed):
    await harness.say("alice", "lone 45m x")
    await harness.say("alice", typed)
    assert "checked in" in harness.last("alice").text


async def test_finish_status_extend_with_full_stops(harness):
    await harness.say("alice", "lone 45m x")
    await harness.say("alice", "status.")
    assert "Lone working since" in harness.last("alice").text
    await harness.say("alice", "Extend 15m.")
    assert harness.last("alice").text.startswith("Done - your session now ends at")
    await harness.say("alice", "Finish.")
    assert "your lone-working session is finished" in harness.last("alice").text
    assert (await harness.query("SELECT status FROM lone_sessions"))[0][0] == "finished"


async def test_backup_and_stand_down_with_full_stops(harness):
    await harness.say("carol", "on shift")
    await harness.say("alice", "Backup.")
    assert (await harness.query("SELECT COUNT(*) FROM backup_requests"))[0][0] == 1
    await harness.say("alice", "stand down.")
    assert (await harness.query("SELECT status FROM backup_requests"))[0][0] == "stood_down"
    await harness.say("alice", "Backup")
    await harness.say("alice", "im fine")
    assert [r[0] for r in await harness.query("SELECT status FROM backup_requests ORDER BY id")] == \
        ["stood_down", "stood_down"]


@pytest.mark.parametrize("typed,state", [("On Shift!", "on"), ("off-shift", "off"), ("on-shift", "on"),
                                         ("Off shift.", "off")])
async def test_shift_words_with_punctuation(harness, typed, state):
    await harness.say("alice", typed)
    assert harness.last("alice").text == f"You are {state} shift at Central Library."


async def test_on_duty_two_words(harness):
    await harness.say("alice", "on duty")
    assert harness.last("alice").text.startswith("Central Library")
    assert "Duty manager: Bob Green" in harness.last("alice").text


async def test_a_typo_gets_did_you_mean_not_the_whole_list(harness):
    await harness.say("alice", "bakcup")
    text = harness.last("alice").text
    assert "Did you mean backup?" in text
    assert len(text.splitlines()) <= 2
    assert (await harness.query("SELECT COUNT(*) FROM backup_requests"))[0][0] == 0


async def test_unknown_text_gets_a_short_reply_pointing_at_help(harness):
    await harness.say("alice", "what a lovely morning")
    text = harness.last("alice").text
    assert len(text.splitlines()) == 1 and "help" in text
    await harness.say("alice", "help")
    assert len(harness.last("alice").text.splitlines()) > 5  # asked for: the whole list


@pytest.mark.parametrize("who,typed,expect", [
    ("bob", "timeline 99999999999999999999", "No such alert"),
    ("alice", "lone ²", "I need a length"),
    ("alice", "lone 99999999999999999999999m", "at most"),
    ("alice", "extend ¹m", "Say how much longer"),
])
async def test_odd_input_gets_a_clear_refusal(harness, who, typed, expect):
    if typed.startswith("extend"):
        await harness.say(who, "lone 45m x")
    await harness.say(who, typed)
    assert expect in harness.last(who).text
    assert SORRY not in harness.texts(who)


FORGEABLE = ["alert.ack", "alert.resolve", "alert.police", "lone.checkin", "lone.finish", "lone.extend", "backup.coming",
             "backup.fine", "lockdown.safe", "incident.step", "lockdown.clear"]
HUGE = ["99999999999999999999999:99999999999999999999", "99999999999999999999999", "\u00b2", "1:99999999999999999999999:x"]


async def test_forged_button_data_with_huge_numbers_is_refused_clearly(harness):
    """Every button, every forged argument: an answer, never the Sorry of a crash (one bot per store, all presses)."""
    for action in FORGEABLE:
        for arg in HUGE:
            before = len(harness.texts("bob"))
            await harness.say("bob", action=action, arg=arg)
            said = harness.texts("bob")[before:]
            assert said, ("no answer at all", action, arg)
            assert SORRY not in said, (action, arg)


async def test_a_short_session_does_not_promise_a_reminder_it_cannot_send(harness):
    await harness.say("alice", "lone 1m quick check")
    text = harness.last("alice").text
    assert "5 min before" not in text and "remind you" not in text


async def test_a_short_backup_wait_is_shown_as_it_is(tmp_path, clock):
    from tests.conftest import start_engine

    h = await start_engine(tmp_path / "s.db", clock, backup_wait="20s")
    try:
        await h.say("carol", "on shift")
        await h.say("alice", "backup desk")
        await h.advance(21)
        details = (await h.query("SELECT details FROM alerts"))[0][0]
        assert "within 20 s" in details and "1 min" not in details
    finally:
        await h.engine.stop()


async def test_i_need_help_outside_a_lockdown_offers_backup_and_is_never_a_form_answer(harness):
    await harness.say("carol", "on shift")
    await _open_form_at(harness, "alice", 2)
    await harness.say("alice", "I need help!")
    assert "call 999" in harness.last("alice").text
    assert (await harness.query("SELECT answers FROM incident_drafts"))[0][0] == '{"occurred_at": "2026-11-25 14:30"}'
    await harness.press("alice", "Ask for backup now")
    assert (await harness.query("SELECT COUNT(*) FROM backup_requests"))[0][0] == 1
    assert "BACKUP WANTED: Alice Smith" in harness.last("carol").text


@pytest.mark.parametrize("odd", ["\u00b2", "99999999999999999999", "-1", "#", "\U0001f600", "1e999", "\u0661\u0662"])
async def test_no_command_fails_on_odd_input(harness, odd):
    for word in sorted({c.name for c in harness.engine.app.commands.values()}):
        await harness.say("dana", f"{word} {odd}")
        assert harness.texts("dana")[-1] != SORRY, f"{word} {odd}"


@pytest.mark.parametrize("typed,meant", [("stnad down", "standdown"), ("chekin", "checkin"),
                                         ("bakcup by the desk", "backup")])
async def test_two_word_near_misses(harness, typed, meant):
    await harness.say("alice", typed)
    assert harness.last("alice").text.startswith(f"Did you mean {meant}?")


async def test_with_a_form_open_words_that_start_like_commands(harness):
    await _open_form_at(harness, "alice", 2)
    await harness.say("alice", "on the stairs")  # 'on' is a command, but not with prose after it
    await harness.say("alice", "Lockdown: no")  # a command she may not use: her answer
    await harness.say("alice", "backup to the desk please")  # urgent: a backup request, not an answer
    answers = json.loads((await harness.query("SELECT answers FROM incident_drafts"))[0][0])
    assert answers["location"] == "on the stairs"
    assert (await harness.query("SELECT what FROM backup_requests"))[0][0] == "to the desk please"
    await harness.say("alice", "help")  # on its own: the help list, and the form waits
    assert harness.last("alice").text.startswith("Hello Alice Smith. You can send:")
