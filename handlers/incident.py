"""Incidents: a one-message stub now, the full form later, reminders, review, access and retention.

`log shouting at the enquiry desk` records reporter, branch, time and text and answers
with the stub's reference (INC-2026-0042) and a Complete form button. Every resolved
alert becomes a stub too, linked to the alert's timeline. The form itself is walked
through in handlers/incident_form.py (Telegram, console) or opened as a Slack modal;
both finish in `complete_form` here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot import escalation
from bot.forms import CARD_NUMBER_MESSAGE, INCIDENT, looks_like_card_number
from bot.messages import Button, Inbound, Outbound, drill_mark
from bot.model import Person, Priority, Role, parse_duration
from bot.permissions import allowed
from bot.registry import command, home, wakeup
from bot.unit import Tx

FORM = INCIDENT
REMIND = "incident.remind"
OVERDUE = "incident.overdue"
RIDDOR = "incident.riddor"
PURGE = "incident.purge"
REMIND_FOR_DAYS = 30  # stop nagging the reporter after this; the manager has long been told
RIDDOR_DAYS = 15
NOT_FOUND = "I can't find an incident with that reference that you may see. References look like INC-2026-0042."
NONE_SAID = ("none", "no", "nil", "n/a", "na", "-", "no injuries", "none.", "no injury")


# --- loading and access ----------------------------------------------------------------------
def by_ref(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    ref = ref.strip().upper()
    if not ref.startswith("INC-"):
        ref = "INC-" + ref
    return conn.execute("SELECT * FROM incidents WHERE ref=?", (ref,)).fetchone()


def by_id(conn: sqlite3.Connection, incident_id: int | str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM incidents WHERE id=?", (int(incident_id),)).fetchone()


def manager_branches(tx: Tx, person: Person) -> set[str]:
    """The branches a duty manager looks after: their own, those they cover on the weekly rota, and a
    branch they covered by a dated override, from that day until 14 days after (to review what happened)."""
    d = tx.directory
    out = {person.branch} if person.branch else set()
    out |= {r.branch for r in d.service.rota if r.person == person.key}
    today = tx.local().date()
    out |= {o.branch for o in d.service.overrides if o.person == person.key and 0 <= (today - o.date).days <= 14}
    return out


# a record of an alert its subject must never learn of (a duress finish): hidden from them in every list
SECRET_FROM_SUBJECT = ("lone_duress",)
HIDDEN_FROM = ("NOT EXISTS (SELECT 1 FROM alerts a WHERE a.id=incidents.alert_id AND a.person=? AND a.kind IN ("
               + ",".join(f"'{k}'" for k in SECRET_FROM_SUBJECT) + "))")


def kept_from(tx: Tx, person: Person, inc: sqlite3.Row) -> bool:
    """Is this the record of a duress alert about this person (who must not see it, even as a manager)?"""
    return inc["alert_id"] is not None and tx.conn.execute(
        f"SELECT 1 FROM incidents WHERE id=? AND NOT {HIDDEN_FROM}", (inc["id"], person.key)).fetchone() is not None


def can_read(tx: Tx, person: Person, inc: sqlite3.Row) -> bool:
    """Reporters read their own, managers their branches', admins all; volunteers never read."""
    if kept_from(tx, person, inc):
        return False
    if allowed(person, "read_all_incidents"):
        return True
    if allowed(person, "read_branch_incidents") and inc["branch"] in manager_branches(tx, person):
        return True
    return allowed(person, "read_own_incidents") and inc["reporter"] == person.key


def can_review(tx: Tx, person: Person, inc: sqlite3.Row) -> bool:
    return allowed(person, "review_incident") and (
        person.role == Role.admin or inc["branch"] in manager_branches(tx, person))


def may_complete(tx: Tx, person: Person, inc: sqlite3.Row) -> bool:
    """The reporter fills in the form (volunteers too: it is their own report); managers may finish it."""
    return inc["reporter"] == person.key or can_review(tx, person, inc)


def answers(inc: sqlite3.Row) -> dict[str, str]:
    return json.loads(inc["answers"] or "{}")


def audit(conn: sqlite3.Connection, now: float, reader: str, inc: Mapping[str, Any], action: str = "read") -> None:
    """One line of incident_audit: `inc` is an incident (id and ref), or {"id": None, "ref": "person:<key>"}."""
    conn.execute("INSERT INTO incident_audit(at, reader, incident_id, ref, action) VALUES(?,?,?,?,?)",
                 (now, reader, inc["id"], inc["ref"], action))


def managers_for(tx: Tx, branch: str | None, exclude: str | None = None) -> list[Person]:
    """Who hears about a branch's incidents: the duty manager now, else the branch's managers, else admins."""
    d = tx.directory
    keys = d.duty_managers(tx.conn, branch, tx.local())
    people = [p for k in keys if (p := d.person(k))]
    if not people:
        people = [p for p in d.with_role(Role.duty_manager, branch) if p.branch == branch]
    people = [p for p in people if p.key != exclude]
    if not people:  # nobody else at the branch (or the manager is the reporter): the admins
        people = [p for p in d.with_role(Role.admin, None) if p.key != exclude]
    return people


def form_button(ref: str) -> Button:
    return Button("Complete form", "incident.form", ref)


def human(duration: str) -> str:
    """'2h' -> '2 hours', '1w' -> '1 week' (for messages)."""
    try:
        seconds = parse_duration(duration)
    except ValueError:
        return duration
    for size, unit in ((604800, "week"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds} seconds"


def stamp(tx: Tx, ts: float) -> str:
    return tx.local(ts).strftime("%a %d %b %Y %H:%M")


# --- stubs ---------------------------------------------------------------------------------------
def create_stub(tx: Tx, reporter: Person | None, branch: str | None, text: str, *, alert_id: int | None = None,
                drill: bool = False) -> sqlite3.Row:
    year = tx.local().year
    seq = tx.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM incidents WHERE year=?", (year,)).fetchone()[0]
    ref = f"INC-{year}-{seq:04d}"
    tx.conn.execute(
        "INSERT INTO incidents(ref, year, seq, reporter, branch, created_at, text, alert_id, drill)"
        " VALUES(?,?,?,?,?,?,?,?,?)",
        (ref, year, seq, reporter.key if reporter else None, branch, tx.now, text, alert_id, int(drill)))
    inc = by_ref(tx.conn, ref)
    assert inc is not None
    s = tx.ctx.settings
    if reporter:
        tx.wake(REMIND, inc["id"], tx.now + parse_duration(s.incident_reminder_first))
    tx.wake(OVERDUE, inc["id"], tx.now + parse_duration(s.incident_manager_after))
    return inc


@command("log", permission="report_incident", help="record an incident now, in one message",
         usage="log <what happened>")
def log_stub(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    text = args.strip()
    if not text:
        tx.reply(msg, Outbound("Say what happened after 'log', for example:\n"
                               "log shouting at the enquiry desk, man in red coat"), person=person)
        return
    if len(text) > 2000:
        tx.reply(msg, Outbound("That is too long for a quick log; write the first line now and the rest "
                               "in the form."), person=person)
        return
    if looks_like_card_number(text):
        tx.reply(msg, Outbound(CARD_NUMBER_MESSAGE + " Nothing was logged; please send it again."),
                 person=person)
        return
    drill = escalation.is_drill(tx, person.branch)
    inc = create_stub(tx, person, person.branch, text, drill=drill)
    first = human(tx.ctx.settings.incident_reminder_first)
    tx.reply(msg, Outbound(
        drill_mark(drill) + f"Logged as {inc['ref']} at {tx.hhmm(tx.now)}, "
        f"{tx.directory.branch_name(person.branch)}.\nPlease complete the full form while it is fresh "
        f"(I'll remind you in {first} if not). Send 'resume' to carry on later.",
        buttons=(form_button(inc["ref"]),)), person=person)


# Alerts about a person who may not be safe to message (duress, a lockdown): their record goes to
# the manager who resolved the alert, and the person hears nothing of it. A missed lone check-in
# resolved by a manager is not one: the worker has just been told their session was closed, and
# the record (and any welfare check-ins after it) is theirs.
RECORDED_BY_RESOLVER = ("lone_duress", "lockdown")


def stub_from_alert(tx: Tx, alert: escalation.Alert) -> None:
    """on_alert_resolved (bot/compose.py): a resolved alert becomes a stub, linked to its timeline.

    Discretion: the person an alert is about never receives its title. A codeword sender is
    asked, in neutral words, to complete the record; other kinds go to whoever resolved it.
    A lone worker who resolved their own alert by checking in late makes no stub.
    """
    if tx.conn.execute("SELECT 1 FROM incidents WHERE alert_id=?", (alert.id,)).fetchone():
        return
    if alert.kind == "lone" and alert.resolved_by == alert.person:
        return
    if alert.kind in RECORDED_BY_RESOLVER:
        reporter = tx.person(alert.resolved_by) or tx.person(alert.acked_by)
    else:
        reporter = tx.person(alert.person) or tx.person(alert.resolved_by)
    lines = [f"{alert.title} (alert #{alert.id})"]
    for e in escalation.timeline(tx.conn, alert.id):
        if e["kind"] not in (escalation.Kind.NOTIFIED, escalation.Kind.CONFIRMED):
            lines.append(f"{tx.hhmm(e['at'])} {e['text']}")
    inc = create_stub(tx, reporter, alert.branch, "\n".join(lines[:30]), alert_id=alert.id, drill=alert.drill)
    if reporter is None:
        return
    if reporter.key == alert.person:
        text = f"Thanks. When you have a moment, please complete the record {inc['ref']}."
    else:
        text = (f"The alert '{alert.title}' is resolved and has been logged as {inc['ref']}. "
                "When you are ready, please complete the incident form.")
    tx.send(reporter, Outbound(drill_mark(alert.drill) + text, buttons=(form_button(inc["ref"]),),
                               priority=Priority.reminder))




# --- reminders -----------------------------------------------------------------------------------
def progress(tx: Tx, inc: sqlite3.Row) -> str:
    d = tx.conn.execute("SELECT answers FROM incident_drafts WHERE incident_id=?", (inc["id"],)).fetchone()
    if d is None:
        return "not started"
    return f"{len(json.loads(d['answers']))} of {len(FORM.fields)} answered"


def shorten(text: str, n: int = 80) -> str:
    first = " ".join(text.split())
    return first if len(first) <= n else first[: n - 3] + "..."


@wakeup(REMIND)
def remind(tx: Tx, ref: str) -> None:
    inc = by_id(tx.conn, ref)
    if inc is None or inc["status"] != "stub" or inc["anonymised_at"]:
        return
    reporter = tx.person(inc["reporter"])
    if reporter is None:
        return
    # a stub made from an alert is not quoted: its text names the alert, and phones are seen by others
    what = "" if inc["alert_id"] else f": \"{shorten(inc['text'])}\""
    tx.send(reporter, Outbound(
        f"Reminder: please complete the incident form for {inc['ref']} (logged {stamp(tx, inc['created_at'])}"
        f"{what}; form {progress(tx, inc)}).",
        buttons=(form_button(inc["ref"]),), priority=Priority.reminder))
    if tx.now - inc["created_at"] < REMIND_FOR_DAYS * 86400:
        tx.wake(REMIND, inc["id"], tx.now + parse_duration(tx.ctx.settings.incident_reminder_every))


@wakeup(OVERDUE)
def overdue(tx: Tx, ref: str) -> None:
    inc = by_id(tx.conn, ref)
    if inc is None or inc["status"] != "stub" or inc["anonymised_at"]:
        return
    reporter = tx.person(inc["reporter"])
    who = reporter.name if reporter else "unknown"
    text = (drill_mark(inc["drill"]) + f"Incident {inc['ref']} at {tx.directory.branch_name(inc['branch'])}"
            f", logged by {who} on {stamp(tx, inc['created_at'])}, still has no completed form after "
            f"{human(tx.ctx.settings.incident_manager_after)} (form {progress(tx, inc)}). A quiet word may help.")
    for m in managers_for(tx, inc["branch"], exclude=inc["reporter"]):
        if not kept_from(tx, m, inc):  # a duress record is never mentioned to the person it is about
            tx.send(m, Outbound(text, priority=Priority.reminder))


# --- completing ------------------------------------------------------------------------------------
def parse_local(tx: Tx, value: str) -> float | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=tx.ctx.clock.tz).timestamp()
    except (ValueError, TypeError):
        return None


def is_serious(clean: dict[str, str]) -> bool:
    injuries = clean.get("injuries", "").strip().lower()
    return clean.get("category") == "physical assault" or (bool(injuries) and injuries not in NONE_SAID)


def complete_form(tx: Tx, person: Person, inc: sqlite3.Row, clean: dict[str, str], via: str,
                  msg: Inbound | None = None) -> None:
    """Store a validated form, stop the reminders, tell the managers, start welfare if serious."""
    serious = is_serious(clean)
    tx.conn.execute(
        "UPDATE incidents SET answers=?, occurred_at=?, category=?, completed_at=?, completed_via=?, status='complete',"
        " serious=CASE WHEN serious>=? THEN serious ELSE ? END,"
        " police_ref=COALESCE(NULLIF(?, ''), police_ref) WHERE id=?",
        (json.dumps(clean, ensure_ascii=False), parse_local(tx, clean.get("occurred_at", "")), clean.get("category"),
         tx.now, via, int(serious), int(serious), clean.get("crime_ref", ""), inc["id"]))
    tx.conn.execute("DELETE FROM incident_drafts WHERE incident_id=?", (inc["id"],))
    tx.cancel_wakeups(REMIND, inc["id"])
    tx.cancel_wakeups(OVERDUE, inc["id"])
    thanks = Outbound(f"Thank you. {inc['ref']} is complete and a manager will review it. "
                      "Look after yourself; if you need support, say so to your manager.")
    if msg is not None and not msg.is_group:
        tx.reply(msg, thanks, person=person)
    else:
        tx.send(person, thanks)
    reporter = tx.person(inc["reporter"])
    lines = [drill_mark(inc["drill"]) + f"Incident {inc['ref']} form completed by {person.name}"
             f" ({tx.directory.branch_name(inc['branch'])}): {clean.get('category', '?')}; where: "
             f"{clean.get('location', '?')}; when: {clean.get('occurred_at', '')}."]
    if serious:
        lines.append("Marked serious: a welfare checklist follows.")
    if clean.get("welfare_support") == "yes":
        who = reporter.name if reporter else person.name
        lines.append(f"{who} would like welfare support. Please get in touch privately.")
    lines.append(f"Send 'incident {inc['ref']}' to read it.")
    buttons = (Button("Read", "incident.read", inc["ref"]), Button("Mark reviewed", "incident.reviewed", inc["ref"]))
    for m in managers_for(tx, inc["branch"], exclude=person.key):
        tx.send(m, Outbound("\n".join(lines), buttons=buttons))
    if serious:  # the App's port (bot/compose.py): welfare starts its checklist
        for start in tx.app.on_incident_serious:
            start(tx, by_id(tx.conn, inc["id"]) or inc)


# --- home --------------------------------------------------------------------------------------------------
@home
def home_lines(tx: Tx, person: Person) -> list[str]:
    lines = []
    for inc in tx.conn.execute("SELECT * FROM incidents WHERE reporter=? AND status='stub' AND anonymised_at IS NULL"
                               " ORDER BY created_at", (person.key,)):
        lines.append(f"Incident {inc['ref']} (logged {tx.local(inc['created_at']).strftime('%d %b %H:%M')}): "
                     f"form not complete ({progress(tx, inc)}). Send 'resume' to finish it.")
    if allowed(person, "review_incident"):
        rows = tx.conn.execute("SELECT branch, status FROM incidents WHERE status IN ('stub', 'complete')"
                               " AND anonymised_at IS NULL").fetchall()
        mine = manager_branches(tx, person)
        rows = [r for r in rows if person.role == Role.admin or r["branch"] in mine]
        stubs = sum(1 for r in rows if r["status"] == "stub")  # not reviewed either: the form is still to come
        if rows:
            lines.append(f"{len(rows)} incident(s) waiting for your review"
                         + (f" ({stubs} still without a full form)" if stubs else "")
                         + ". Send 'incidents unreviewed'.")
    return lines
