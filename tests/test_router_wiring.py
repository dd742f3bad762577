"""Safety words always win: the wiring, phrase ownership, and every safety phrase against every state."""

from __future__ import annotations

import json

import pytest

from bot.compose import build_app
from bot.registry import Group, Reader, command, phrase_clashes, reads

APP = build_app()
READERS = APP.readers


def test_the_wiring_is_in_priority_order_and_safety_comes_first():
    assert READERS, "the entry point wired no readers"
    groups = [r.group for r in READERS]
    assert groups == sorted(groups)
    assert READERS[0].fn.__name__ == "read_codeword"  # a codeword is read before anything else
    assert {r.owner for r in READERS if r.group == Group.ANSWER} >= {"handlers.incident_form"}


def test_no_two_capabilities_claim_one_phrase_at_one_priority():
    assert phrase_clashes(READERS) == {}
    claimed = {p for r in READERS for p in r.phrases}
    assert {"i am safe", "i need help", "stand down", "done"} <= claimed


def test_a_clash_is_refused_at_start_up():
    @reads(phrases={"i am safe"})
    def other(tx, person, msg):
        return False

    other.__module__ = "handlers.someone_else"
    clash = [*((r.group, r.fn) for r in READERS), (Group.SAFETY, other)]
    clash.sort(key=lambda e: e[0])
    assert phrase_clashes([Reader(g, f, f.__module__, getattr(f, "phrases", frozenset()), False)
                           for g, f in clash])
    with pytest.raises(ValueError, match="i am safe"):
        build_app().wire(*clash)
    assert all(r.fn is not other for r in READERS)  # the live wiring is untouched


def test_a_command_word_claimed_twice_is_refused():
    def backup_again(tx, person, msg, args):
        return None

    backup_again.__module__ = "handlers.someone_else"
    with pytest.raises(ValueError, match="backup"):
        APP.take(command("Back-up", permission="request_backup", help="")(backup_again))
    assert APP.commands["backup"].owner == "handlers.backup"


# --- the table: every safety phrase against every conversation state -------------------------------
FORM_AT = {"datetime": 1, "text": 2, "choice": 3, "long_text": 6, "yes_no": 12}
TO_YES_NO = ["Now", "enquiry desk", "[theft]", "[staff]", "[Skip]", "shouted at me", "tall man, red coat",
             "[Skip]", "[Skip]", "none", "[Skip]"]


async def _state(h, state: str) -> None:
    if state == "lone":
        await h.say("alice", "lone 45m closing up")
    elif state == "rollcall":
        await h.say("bob", "lockdown central intruder")
    elif state == "backup":
        await h.say("alice", "backup at the desk")
    elif state.startswith("form:"):
        await h.say("alice", "log shouting at the desk")
        await h.press("alice", "Complete form")
        for step in TO_YES_NO[:FORM_AT[state[5:]] - 1]:
            if step.startswith("[") or step == "Now":
                await h.press("alice", step.strip("[]"))
            else:
                await h.say("alice", step)
        assert f"question {FORM_AT[state[5:]]} of" in h.last("alice").text, state


async def _count(h, sql: str) -> int:
    return (await h.query(sql))[0][0]


# phrase -> (what it needs, the SQL that counts its safety action)
PHRASES = {
    "Is Mr Brown in today?": (None, "SELECT COUNT(*) FROM alerts WHERE kind='codeword'"),
    "finished for the day": ("lone", "SELECT COUNT(*) FROM alerts WHERE kind='lone_duress'"),
    "I'm safe.": ("lone", "SELECT COUNT(*) FROM lone_events WHERE kind='checkin'"),
    "Safe": ("rollcall", "SELECT COUNT(*) FROM rollcall WHERE person='alice' AND answer='safe'"),
    "I need help": ("rollcall", "SELECT COUNT(*) FROM rollcall WHERE person='alice' AND answer='help'"),
    "Checkin.": ("lone", "SELECT COUNT(*) FROM lone_events WHERE kind='checkin'"),
    "extend 15m.": ("lone", "SELECT COUNT(*) FROM lone_events WHERE kind='extended'"),
    "Finish.": ("lone", "SELECT COUNT(*) FROM lone_sessions WHERE status='finished'"),
    "done": ("lone", "SELECT COUNT(*) FROM lone_sessions WHERE status='finished'"),
    "stand down.": ("backup", "SELECT COUNT(*) FROM backup_requests WHERE status='stood_down'"),
    "I'm fine": ("backup", "SELECT COUNT(*) FROM backup_requests WHERE status='stood_down'"),
    "Backup.": (None, "SELECT COUNT(*) FROM backup_requests"),
}
STATES = ["none", "lone", "rollcall", "backup", *(f"form:{k}" for k in FORM_AT)]


@pytest.mark.parametrize("state", STATES)
async def test_every_safety_phrase_wins_in_every_state(tmp_path, clock, state):
    from tests.conftest import start_engine

    for n, (phrase, (needs, sql)) in enumerate(PHRASES.items()):
        h = await start_engine(tmp_path / f"t{n}.db", clock)
        try:
            for p in ("alice", "carol"):
                await h.say(p, "on shift")
            await _state(h, state)
            if needs and needs != state:
                await _state(h, needs)
            drafts = await h.query("SELECT pos, answers FROM incident_drafts")
            before = await _count(h, sql)
            await h.say("alice", phrase)
            assert await _count(h, sql) == before + 1, (state, phrase, h.texts("alice")[-1])
            after = await h.query("SELECT pos, answers FROM incident_drafts")
            assert [tuple(r) for r in after] == [tuple(r) for r in drafts], (state, phrase)  # the form took nothing
            for row in after:
                assert phrase not in json.loads(row[1]).values()
        finally:
            await h.engine.stop()
