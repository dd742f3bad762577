"""The incident form, one question per message (Telegram, console), and the Slack modal's submission.

Both read the ONE definition in bot/forms.py and validate with the same words. The
step-by-step state lives in `incident_drafts`, so a restart loses nothing: `resume`,
pressing Complete form again, or simply answering carries on where the person left off.
"""

from __future__ import annotations

import json
import sqlite3

from bot import words
from bot.forms import INCIDENT, Field, check_field, normalise_answer, validate
from bot.messages import Button, Inbound, Outbound
from bot.model import Person
from bot.registry import button, command, conversation, form
from bot.unit import Tx

from . import incident

FORM = INCIDENT
STEP = "incident.step"
IDLE = 12 * 3600  # an untouched form stops catching free text after this; 'resume' wakes it
WORDS = {"back": "back", "skip": "skip", "cancel": "cancel", "submit": "submit", "stop": "cancel"}


def _say(tx: Tx, person: Person, msg: Inbound, out: Outbound) -> None:
    """Form questions and answers go to the person privately, even if the button was pressed in a group."""
    if msg.is_group:
        tx.send(person, out)
    else:
        tx.reply(msg, out)


def _draft(conn: sqlite3.Connection, incident_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM incident_drafts WHERE incident_id=?", (incident_id,)).fetchone()


def _save(tx: Tx, incident_id: int, pos: int, given: dict[str, str], active: int = 1) -> None:
    tx.conn.execute("UPDATE incident_drafts SET pos=?, answers=?, active=?, updated_at=? WHERE incident_id=?",
                    (pos, json.dumps(given, ensure_ascii=False), active, tx.now, incident_id))


def start(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row) -> None:
    """Open (or reopen) the step-by-step form for an incident and ask the current question."""
    if inc["status"] != "stub":
        _say(tx, person, msg, Outbound(f"The form for {inc['ref']} is already complete. Thank you."))
        return
    if inc["anonymised_at"]:
        _say(tx, person, msg, Outbound(f"{inc['ref']} is past its retention period and can no longer be completed."))
        return
    tx.conn.execute("UPDATE incident_drafts SET active=0 WHERE person=? AND incident_id!=?", (person.key, inc["id"]))
    d = _draft(tx.conn, inc["id"])
    if d is None:
        tx.conn.execute("INSERT INTO incident_drafts(incident_id, person, updated_at) VALUES(?,?,?)",
                        (inc["id"], person.key, tx.now))
        intro = (f"Incident form for {inc['ref']}: {len(FORM.fields)} questions. Optional ones can be skipped; "
                 "Back goes to the previous one; Cancel keeps your answers for later ('resume').")
        _say(tx, person, msg, Outbound(intro))
    else:
        tx.conn.execute("UPDATE incident_drafts SET active=1, person=?, updated_at=? WHERE incident_id=?",
                        (person.key, tx.now, inc["id"]))
        _say(tx, person, msg, Outbound(f"Carrying on with {inc['ref']} where you left off."))
    ask(tx, person, msg, inc)


def ask(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row, error: str = "") -> None:
    d = _draft(tx.conn, inc["id"])
    assert d is not None
    given = json.loads(d["answers"])
    pos = d["pos"]
    n = len(FORM.fields)
    arg = f"{inc['id']}:{pos}:"
    nav = [Button("Back", STEP, arg + "back")] if pos > 0 else []
    if pos >= n:
        lines = [f"{inc['ref']}: please check your answers."]
        lines += [f"{f.label}: {given.get(f.name, '(skipped)')}" for f in FORM.fields]
        lines.append(f"Press {FORM.submit_label} to send it, or Back to change an answer.")
        buttons = [Button(FORM.submit_label, STEP, arg + "submit"), *nav, Button("Cancel", STEP, arg + "cancel")]
        _say(tx, person, msg, Outbound(("" if not error else error + "\n") + "\n".join(lines), buttons=tuple(buttons)))
        return
    f = FORM.fields[pos]
    lines = [error] if error else []
    lines.append(f"{inc['ref']} - question {pos + 1} of {n}" + ("" if f.required else " (optional)"))
    lines.append(f.label + ("?" if f.kind == "yes_no" and not f.label.endswith("?") else ""))
    if f.help:
        lines.append(f.help)
    buttons: list[Button] = []
    if f.kind == "choice":
        lines.append("Choose: " + ", ".join(f"{i}. {c}" for i, c in enumerate(f.choices, 1)))
        buttons += [Button(c, STEP, f"{arg}c{i}") for i, c in enumerate(f.choices)]
    elif f.kind == "yes_no":
        buttons += [Button("Yes", STEP, arg + "yes"), Button("No", STEP, arg + "no")]
    elif f.kind == "datetime":
        buttons.append(Button("Now", STEP, arg + "now"))
    if f.name in given:
        lines.append(f"Your answer so far: {given[f.name]} (type a new one to change it)")
    buttons += nav
    if not f.required:
        buttons.append(Button("Skip", STEP, arg + "skip"))
    buttons.append(Button("Cancel", STEP, arg + "cancel"))
    _say(tx, person, msg, Outbound("\n".join(lines), buttons=tuple(buttons)))


def answer(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row, d: sqlite3.Row, raw: str) -> None:
    pos = d["pos"]
    if pos >= len(FORM.fields):
        ask(tx, person, msg, inc, error=f"Press {FORM.submit_label} to send the form, or Back to change an answer.")
        return
    f: Field = FORM.fields[pos]
    now = tx.local()
    error = check_field(f, raw.strip(), now) if raw.strip() else (f"{f.label} is needed." if f.required else None)
    if error:
        ask(tx, person, msg, inc, error="Sorry: " + error)
        return
    given = json.loads(d["answers"])
    if raw.strip():
        given[f.name] = normalise_answer(f, raw, now)
    _save(tx, inc["id"], pos + 1, given)
    ask(tx, person, msg, inc)


def navigate(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row, d: sqlite3.Row, what: str) -> None:
    pos = d["pos"]
    given = json.loads(d["answers"])
    n = len(FORM.fields)
    if what == "cancel":
        _save(tx, inc["id"], pos, given, active=0)
        _say(tx, person, msg, Outbound(f"Form for {inc['ref']} put aside; " + (f"your {words.plural(len(given), 'answer')} "
                               f"{'is' if len(given) == 1 else 'are'} kept. " if given else "nothing answered yet. ") +
                               "Send 'resume' or press Complete form to carry on.",
                               buttons=(incident.form_button(inc["ref"]),)))
    elif what == "back":
        _save(tx, inc["id"], max(0, pos - 1), given)
        ask(tx, person, msg, inc)
    elif what == "skip":
        if pos < n and FORM.fields[pos].required:
            ask(tx, person, msg, inc, error=f"Sorry: '{FORM.fields[pos].label}' is needed, so it can't be skipped.")
            return
        if pos < n:
            given.pop(FORM.fields[pos].name, None)
        _save(tx, inc["id"], min(n, pos + 1), given)
        ask(tx, person, msg, inc)
    elif what == "submit":
        if pos < n:
            ask(tx, person, msg, inc)
            return
        clean, errors = validate(FORM, given, tx.local())
        if errors:
            first = next(i for i, f in enumerate(FORM.fields) if f.name in errors)
            _save(tx, inc["id"], first, given)
            ask(tx, person, msg, inc, error="Sorry: " + errors[FORM.fields[first].name])
            return
        incident.complete_form(tx, person, inc, clean, via=msg.platform, msg=msg)
    elif pos < n:  # a choice, yes/no or now button
        f = FORM.fields[pos]
        if what.startswith("c") and (i := words.number(what[1:])) is not None and i < len(f.choices):
            answer(tx, person, msg, inc, d, f.choices[i])
        elif what in ("yes", "no", "now"):
            answer(tx, person, msg, inc, d, what)
        else:
            ask(tx, person, msg, inc)
    else:
        ask(tx, person, msg, inc)


@button("incident.form", permission="report_incident")
def complete_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    inc = incident.by_ref(tx.conn, arg) if arg else None
    if inc is None or not incident.may_complete(tx, person, inc):
        _say(tx, person, msg, Outbound(incident.NOT_FOUND))
        return
    start(tx, person, msg, inc)


@button(STEP, permission="report_incident")
def step_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    parts = arg.split(":")
    if len(parts) != 3 or words.number(parts[0]) is None or words.number(parts[1]) is None:
        _say(tx, person, msg, Outbound("That button has expired."))
        return
    inc = incident.by_id(tx.conn, parts[0])
    d = _draft(tx.conn, int(parts[0])) if inc else None
    if inc is None or d is None or d["person"] != person.key or inc["status"] != "stub":
        _say(tx, person, msg, Outbound("That form is closed. Send 'resume' to see what is still open."))
        return
    if not d["active"]:
        tx.conn.execute("UPDATE incident_drafts SET active=0 WHERE person=?", (person.key,))
        tx.conn.execute("UPDATE incident_drafts SET active=1 WHERE incident_id=?", (inc["id"],))
    if int(parts[1]) != d["pos"]:
        ask(tx, person, msg, inc, error="That button was for another question; this is where you are:")
        return
    navigate(tx, person, msg, inc, d, parts[2])


@command("resume", "continue", permission="report_incident", help="carry on with an incident form",
         usage="resume [INC-2026-0042]")
def resume(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    if args.strip():
        inc = incident.by_ref(tx.conn, args.strip().split()[0])
        if inc is None or not incident.may_complete(tx, person, inc):
            _say(tx, person, msg, Outbound(incident.NOT_FOUND))
            return
        start(tx, person, msg, inc)
        return
    row = tx.conn.execute(
        "SELECT i.* FROM incident_drafts d JOIN incidents i ON i.id=d.incident_id WHERE d.person=? AND"
        " i.status='stub' ORDER BY d.active DESC, d.updated_at DESC LIMIT 1", (person.key,)).fetchone()
    if row is None:
        row = tx.conn.execute("SELECT * FROM incidents WHERE reporter=? AND status='stub' AND anonymised_at IS NULL"
                              " ORDER BY created_at DESC LIMIT 1", (person.key,)).fetchone()
    if row is None:
        _say(tx, person, msg, Outbound("You have no incident forms waiting. To record one: log <what happened>"))
        return
    start(tx, person, msg, row)


@conversation
def form_answer(tx: Tx, person: Person, msg: Inbound) -> bool:
    """ANSWER: a typed answer to the open question (or back / skip / cancel / submit typed as words).

    Wired before command words, so "on the stairs" answers the question instead of going on
    shift. Safety words were read before it; the router lets a lone command word ("help",
    "resume"), a /command or an urgent command ("backup ...") through to its command.
    """
    text = msg.text.strip()
    if msg.is_group or not text:
        return False
    d = tx.conn.execute("SELECT * FROM incident_drafts WHERE person=? AND active=1 AND updated_at>=?"
                        " ORDER BY updated_at DESC LIMIT 1", (person.key, tx.now - IDLE)).fetchone()
    if d is None:
        return False
    inc = incident.by_id(tx.conn, d["incident_id"])
    if inc is None or inc["status"] != "stub":
        return False
    nav = WORDS.get(words.key(text))
    if nav:
        navigate(tx, person, msg, inc, d, nav)
    else:
        answer(tx, person, msg, inc, d, text)
    return True


@form("incident")
def submitted(tx: Tx, person: Person, msg: Inbound) -> None:
    """A whole form at once (the Slack modal); validated again here, with the same rules."""
    inc = incident.by_ref(tx.conn, msg.arg) if msg.arg else None
    if inc is None or not incident.may_complete(tx, person, inc):
        _say(tx, person, msg, Outbound(incident.NOT_FOUND))
        return
    if inc["status"] != "stub":
        _say(tx, person, msg, Outbound(f"The form for {inc['ref']} was already completed; nothing was changed."))
        return
    clean, errors = validate(FORM, dict(msg.values), tx.local())
    if errors:
        by_label = {f.name: f.label for f in FORM.fields}
        _say(tx, person, msg, Outbound("The form was not saved:\n" + "\n".join(
            f"- {by_label.get(k, k)}: {v}" for k, v in errors.items()), buttons=(incident.form_button(inc["ref"]),)))
        return
    incident.complete_form(tx, person, inc, clean, via=msg.platform, msg=msg)
