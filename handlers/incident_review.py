"""Incidents, read and reviewed: listing, the full record (audited), notes, review.

Who may read what is decided in handlers/incident.py (`can_read`, `can_review`); every
full read is written to the incident audit. Volunteers never get here (permissions).
"""

from __future__ import annotations

import sqlite3

from bot.forms import CARD_NUMBER_MESSAGE, looks_like_card_number
from bot.messages import Button, Inbound, Outbound
from bot.model import Person
from bot.permissions import allowed
from bot.registry import button, command
from bot.unit import Tx

from . import privacy
from .incident import (
    FORM,
    HIDDEN_FROM,
    NOT_FOUND,
    answers,
    audit,
    by_ref,
    can_read,
    can_review,
    form_button,
    manager_branches,
    may_complete,
    progress,
    shorten,
    stamp,
)


# --- reading and review ------------------------------------------------------------------------------
def name_of(tx: Tx, key: str | None) -> str | None:
    """A person's name, also for someone who has left (their records carry a retired key)."""
    p = tx.person(key)
    if p:
        return p.name
    former = privacy.former_name(tx.conn, key)
    return f"{former} (has left)" if former else key


def render_full(tx: Tx, inc: sqlite3.Row) -> str:
    reporter = name_of(tx, inc["reporter"])
    flags = [f for f, on in (("DRILL", inc["drill"]), ("SERIOUS", inc["serious"]), ("RIDDOR", inc["riddor"])) if on]
    lines = [f"{inc['ref']} ({inc['status']})" + (f" [{', '.join(flags)}]" if flags else ""),
             f"Branch: {tx.directory.branch_name(inc['branch'])}",
             f"Reported by: {reporter or '(not recorded)'} on {stamp(tx, inc['created_at'])}",
             f"Logged: {inc['text']}"]
    if inc["anonymised_at"]:
        lines.append(f"Anonymised on {stamp(tx, inc['anonymised_at'])} under the retention policy.")
    if inc["alert_id"]:
        lines.append(f"From alert #{inc['alert_id']} (send 'timeline {inc['alert_id']}' for its timeline)")
    given = answers(inc)
    if given:
        for f in FORM.fields:
            if given.get(f.name):
                lines.append(f"{f.label}: {given[f.name]}")
        lines.append(f"Form completed {stamp(tx, inc['completed_at'])} via {inc['completed_via']}")
    else:
        lines.append(f"Form: not completed ({progress(tx, inc)})")
    if inc["police_ref"]:
        lines.append(f"Police reference: {inc['police_ref']}")
    if inc["riddor"]:
        lines.append(f"RIDDOR reportable: report by {tx.local(inc['riddor_due']).strftime('%a %d %b %Y')}")
    for n in tx.conn.execute("SELECT * FROM incident_notes WHERE incident_id=? ORDER BY id", (inc["id"],)):
        lines.append(f"Note by {name_of(tx, n['author'])} on {stamp(tx, n['at'])}: {n['text']}")
    if inc["reviewed_by"]:
        lines.append(f"Reviewed by {name_of(tx, inc['reviewed_by'])} on {stamp(tx, inc['reviewed_at'])}")
    return "\n".join(lines)


def show(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row) -> None:
    audit(tx.conn, tx.now, person.key, inc)
    buttons: tuple[Button, ...] = ()
    if inc["status"] == "stub" and may_complete(tx, person, inc):
        buttons = (form_button(inc["ref"]),)
    elif inc["status"] == "complete" and can_review(tx, person, inc):
        buttons = (Button("Mark reviewed", "incident.reviewed", inc["ref"]),)
    out = Outbound(render_full(tx, inc), buttons=buttons)
    if msg.is_group:  # an incident is never read out in a shared channel
        tx.send(person, out)
        tx.reply(msg, Outbound(f"I've sent {inc['ref']} to you privately.", ephemeral=True), person=person)
    else:
        tx.reply(msg, out, person=person)


def visible(tx: Tx, person: Person, where: str = "", limit: int = 20) -> list[sqlite3.Row]:
    if allowed(person, "read_all_incidents"):
        scope, args = "1=1", ()
    elif allowed(person, "read_branch_incidents"):
        mine = sorted(manager_branches(tx, person))
        scope = f"(branch IN ({','.join('?' * len(mine))}) OR reporter=?)"
        args = (*mine, person.key)
    else:
        scope, args = "reporter=?", (person.key,)
    return tx.conn.execute(f"SELECT * FROM incidents WHERE {scope} AND {HIDDEN_FROM} {where} ORDER BY created_at DESC"
                           " LIMIT ?", (*args, person.key, limit)).fetchall()


def one_line(tx: Tx, inc: sqlite3.Row) -> str:
    what = inc["category"] or f"\"{shorten(inc['text'], 50)}\""  # the status, (stub), says it is a stub
    flags = "".join(f" [{f}]" for f, on in (("drill", inc["drill"]), ("serious", inc["serious"]),
                                             ("RIDDOR", inc["riddor"])) if on)
    return (f"{inc['ref']} {tx.local(inc['created_at']).strftime('%d %b %H:%M')} "
            f"{tx.directory.branch_name(inc['branch'])} - {what} ({inc['status']}){flags}")


@command("incidents", permission="read_own_incidents", help="list incidents you may see",
         usage="incidents [stubs|unreviewed]")
def list_incidents(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    word = args.strip().lower()
    where = {"stubs": "AND status='stub'", "unreviewed": "AND status IN ('stub', 'complete') AND anonymised_at IS NULL",
             "review": "AND status IN ('stub', 'complete') AND anonymised_at IS NULL"}.get(word, "")  # a stub is not reviewed either
    rows = visible(tx, person, where)
    if not rows:
        tx.reply(msg, Outbound("No incidents to show."), person=person)
        return
    head = "Your incidents" if not allowed(person, "read_branch_incidents") else "Incidents"
    text = f"{head} (newest first):\n" + "\n".join(one_line(tx, r) for r in rows)
    text += "\nSend 'incident <reference>' to read one."
    if msg.is_group:
        tx.send(person, Outbound(text))
        tx.reply(msg, Outbound("I've sent the list to you privately.", ephemeral=True), person=person)
    else:
        tx.reply(msg, Outbound(text), person=person)


INCIDENT_USAGE = ("incident <ref>: read it. Managers also: incident <ref> note <text> | reviewed | riddor | "
                  "police <crime reference> | serious")


@command("incident", permission="read_own_incidents", help="read an incident; managers: note, review, RIDDOR",
         usage="incident <ref> [note <text>|reviewed|riddor|police <ref>|serious]")
def incident_cmd(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    ref, _, rest = args.strip().partition(" ")
    if not ref:
        tx.reply(msg, Outbound(INCIDENT_USAGE), person=person)
        return
    inc = by_ref(tx.conn, ref)
    if inc is None or not can_read(tx, person, inc):
        tx.reply(msg, Outbound(NOT_FOUND), person=person)
        return
    action, _, text = rest.strip().partition(" ")
    action = action.lower()
    if not action:
        show(tx, person, msg, inc)
        return
    if action not in ("note", "reviewed", "review", "riddor", "police", "serious"):
        tx.reply(msg, Outbound(INCIDENT_USAGE), person=person)
        return
    if not can_review(tx, person, inc):
        tx.reply(msg, Outbound("Only a duty manager for that branch (or an admin) can do that."), person=person)
        return
    text = text.strip()
    if action == "note":
        add_note(tx, person, msg, inc, text)
    elif action in ("reviewed", "review"):
        mark_reviewed(tx, person, msg, inc)
    elif action == "riddor":
        from . import welfare

        welfare.flag_riddor(tx, person, msg, inc)
    elif action == "police":
        if not text or len(text) > 60:
            tx.reply(msg, Outbound("Give the crime reference, e.g. incident INC-2026-0042 police CR/1234/26"),
                     person=person)
            return
        tx.conn.execute("UPDATE incidents SET police_ref=? WHERE id=?", (text, inc["id"]))
        tx.reply(msg, Outbound(f"Police reference {text} recorded on {inc['ref']}."), person=person)
    else:
        from . import welfare

        welfare.mark_serious(tx, person, msg, inc)


def add_note(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row, text: str) -> None:
    if not text:
        tx.reply(msg, Outbound(f"Write the note after the word note: incident {inc['ref']} note <text>"),
                 person=person)
        return
    if looks_like_card_number(text):
        tx.reply(msg, Outbound(CARD_NUMBER_MESSAGE), person=person)
        return
    tx.conn.execute("INSERT INTO incident_notes(incident_id, at, author, text) VALUES(?,?,?,?)",
                    (inc["id"], tx.now, person.key, text[:2000]))
    tx.reply(msg, Outbound(f"Note added to {inc['ref']}."), person=person)


def mark_reviewed(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row) -> None:
    if inc["status"] == "stub":
        tx.reply(msg, Outbound(f"{inc['ref']} has no completed form yet, so it cannot be reviewed. "
                               "Add a note instead, or ask the reporter to complete it."), person=person)
        return
    if inc["status"] == "reviewed":
        rv = tx.person(inc["reviewed_by"])
        tx.reply(msg, Outbound(f"{inc['ref']} was already reviewed by {rv.name if rv else inc['reviewed_by']}."),
                 person=person)
        return
    tx.conn.execute("UPDATE incidents SET status='reviewed', reviewed_by=?, reviewed_at=? WHERE id=?",
                    (person.key, tx.now, inc["id"]))
    tx.reply(msg, Outbound(f"{inc['ref']} marked reviewed."), person=person)


def _incident_for_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> sqlite3.Row | None:
    inc = by_ref(tx.conn, arg) if arg else None
    if inc is None or not can_read(tx, person, inc):
        tx.reply(msg, Outbound(NOT_FOUND), person=person)
        return None
    return inc


@button("incident.read", permission="read_own_incidents")
def read_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    inc = _incident_for_button(tx, person, msg, arg)
    if inc:
        show(tx, person, msg, inc)


@button("incident.reviewed", permission="review_incident")
def reviewed_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    inc = _incident_for_button(tx, person, msg, arg)
    if inc is None:
        return
    if not can_review(tx, person, inc):
        tx.reply(msg, Outbound("Only a duty manager for that branch (or an admin) can do that."), person=person)
        return
    mark_reviewed(tx, person, msg, inc)
