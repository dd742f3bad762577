"""Welfare after a serious incident: the manager's checklist and private check-ins for those affected;
also RIDDOR flags and their deadline reminders.

Serious means a physical assault, an injury, or a manager saying so (`incident <ref> serious`).
The manager gets a checklist card whose buttons tick items off; each affected member of
staff or volunteer gets a private check-in at the configured offsets (default 1, 2 and 4
weeks), and whatever they answer reaches the branch's manager.
"""

from __future__ import annotations

import sqlite3

from bot import words
from bot.messages import Button, Inbound, Outbound
from bot.model import Person, Priority, Role, parse_duration
from bot.permissions import allowed
from bot.registry import button, conversation, wakeup
from bot.unit import Tx

from . import incident

CHECKLIST = ("Immediate support given", "Debrief offered", "Time off offered",
             "Counselling/EAP information given", "Follow-up planned")
CHECKIN = "welfare.checkin"
ANSWER_WINDOW = 3 * 86400  # a typed reply within this long of a check-in counts as its answer
OPTIONS = {"ok": "I'm OK", "talk": "I'd like to talk", "later": "Not now"}
# command words that also start everyday sentences ("on my way home", "help, I'm struggling"): only on
# their own (or as a /command) are they commands; with words after them they are an answer
PROSE_WORDS = {"on", "off", "help", "start", "continue", "finish", "finished", "status", "menu", "shift",
               "person", "numbers"}


def card_key(incident_id: int) -> str:
    return f"welfare:{incident_id}"


def render(tx: Tx, inc: sqlite3.Row) -> Outbound:
    rows = {r["item"]: r for r in tx.conn.execute("SELECT * FROM welfare_checklist WHERE incident_id=?",
                                                  (inc["id"],))}
    lines = [f"Welfare checklist for {inc['ref']} ({tx.directory.branch_name(inc['branch'])})"]
    buttons = []
    for i, item in enumerate(CHECKLIST):
        r = rows.get(item)
        if r is not None and r["done_by"]:
            who = tx.person(r["done_by"])
            lines.append(f"[x] {item} - {who.name if who else r['done_by']}, {tx.hhmm(r['done_at'])}"
                         f" {tx.local(r['done_at']).strftime('%d %b')}")
        else:
            lines.append(f"[ ] {item}")
            buttons.append(Button(f"Done: {item}", "welfare.tick", f"{inc['id']}:{i}"))
    people = affected(tx, inc)
    if people:
        lines.append("Private check-ins planned for: " + ", ".join(p.name for p in people))
    return Outbound("\n".join(lines), buttons=tuple(buttons))


def affected(tx: Tx, inc: sqlite3.Row) -> list[Person]:
    """Rostered people named in the form, plus the reporter unless only a member of the public was affected."""
    given = incident.answers(inc)
    found: dict[str, Person] = {}
    reporter = tx.person(inc["reporter"])
    if reporter and given.get("affected") != "member of the public":
        found[reporter.key] = reporter
    for name in (given.get("affected_names") or "").replace(" and ", ",").split(","):
        name = name.strip().lower()
        if not name:
            continue
        for p in tx.directory.people.values():
            if name in (p.key.lower(), p.name.lower(), p.name.lower().split()[0]):
                found.setdefault(p.key, p)
    return list(found.values())


def start(tx: Tx, inc: sqlite3.Row, to: Person | None = None) -> None:
    """Send the checklist to the managers (once) and plan the check-ins."""
    if tx.conn.execute("SELECT 1 FROM welfare_checklist WHERE incident_id=?", (inc["id"],)).fetchone():
        if to is not None:
            tx.send(to, Outbound("", card=card_key(inc["id"])))
        return
    tx.conn.executemany("INSERT INTO welfare_checklist(incident_id, item) VALUES(?,?)",
                        [(inc["id"], item) for item in CHECKLIST])
    tx.set_card(card_key(inc["id"]), render(tx, inc))
    # the checklist plans check-ins on the people affected: it is about them, so never goes to them
    about = {p.key for p in affected(tx, inc)}
    managers = [m for m in incident.managers_for(tx, inc["branch"]) if m.key not in about] or [
        p for p in tx.directory.with_role(Role.admin, None) if p.key not in about]
    if to is not None and to.key not in {m.key for m in managers}:
        managers.append(to)
    for m in managers:
        tx.send(m, Outbound("", card=card_key(inc["id"])))
    if inc["drill"]:
        return  # an exercise: the checklist is practised, nobody is checked on
    offsets = [o.strip() for o in tx.ctx.settings.welfare_checkins.split(",") if o.strip()]
    for p in affected(tx, inc):
        for label in offsets:
            due = tx.now + parse_duration(label)
            cur = tx.conn.execute("INSERT INTO welfare_checkins(incident_id, person, offset_label, due_at)"
                                  " VALUES(?,?,?,?)", (inc["id"], p.key, label, due))
            tx.wake(CHECKIN, int(cur.lastrowid or 0), due)


@button("welfare.tick", permission="review_incident")
def tick(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    iid, _, idx = arg.partition(":")
    inc = incident.by_id(tx.conn, iid) if iid.isdigit() else None
    if inc is None or not incident.can_review(tx, person, inc) or not idx.isdigit() or int(idx) >= len(CHECKLIST):
        tx.reply(msg, Outbound("That checklist is not one you can change."), person=person)
        return
    tx.conn.execute("UPDATE welfare_checklist SET done_by=?, done_at=? WHERE incident_id=? AND item=?"
                    " AND done_by IS NULL", (person.key, tx.now, inc["id"], CHECKLIST[int(idx)]))
    tx.set_card(card_key(inc["id"]), render(tx, inc))


@wakeup(CHECKIN)
def check_in(tx: Tx, ref: str) -> None:
    c = tx.conn.execute("SELECT * FROM welfare_checkins WHERE id=? AND status='pending'", (int(ref),)).fetchone()
    inc = incident.by_id(tx.conn, c["incident_id"]) if c else None
    p = tx.person(c["person"]) if c else None
    if c is None or inc is None or p is None or inc["anonymised_at"]:
        return
    tx.conn.execute("UPDATE welfare_checkins SET status='asked', asked_at=? WHERE id=?", (tx.now, c["id"]))
    when = tx.local(inc["occurred_at"] or inc["created_at"]).strftime("%a %d %b")
    tx.send(p, Outbound(
        f"Hello {p.name.split()[0]}. It is {incident.human(c['offset_label'])} since the incident at "
        f"{tx.directory.branch_name(inc['branch'])} on {when} ({inc['ref']}). How are you doing? "
        "Press a button, or reply in a few words. Only your manager will see your answer.",
        buttons=tuple(Button(label, "welfare.answer", f"{c['id']}:{key}") for key, label in OPTIONS.items()),
        priority=Priority.reminder))


def record(tx: Tx, person: Person, msg: Inbound, c: sqlite3.Row, text: str) -> None:
    tx.conn.execute("UPDATE welfare_checkins SET status='answered', answer=?, answered_at=? WHERE id=?",
                    (text[:2000], tx.now, c["id"]))
    inc = incident.by_id(tx.conn, c["incident_id"])
    if inc is None:
        return
    head = f"Welfare check-in ({incident.human(c['offset_label'])}) after {inc['ref']}: {person.name} says: {text}"
    if text == OPTIONS["talk"]:
        head += "\nThey would like to talk. Please get in touch privately."
    for m in incident.managers_for(tx, inc["branch"], exclude=person.key):
        tx.send(m, Outbound(head, buttons=(Button("Read", "incident.read", inc["ref"]),)))
    tx.reply(msg, Outbound(f"Thank you. I have passed that to your manager as your answer to the "
                           f"{incident.human(c['offset_label'])} check-in after {inc['ref']}."
                           + (" They will be in touch." if text == OPTIONS["talk"] else "")), person=person)


@button("welfare.answer", permission="report_incident")
def answer_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    cid, _, key = arg.partition(":")
    c = tx.conn.execute("SELECT * FROM welfare_checkins WHERE id=?", (int(cid),)).fetchone() if cid.isdigit() else None
    if c is None or c["person"] != person.key or key not in OPTIONS:
        tx.reply(msg, Outbound("That button has expired."), person=person)
        return
    if c["status"] == "answered":
        tx.reply(msg, Outbound("Thank you, you already answered this one."), person=person)
        return
    record(tx, person, msg, c, OPTIONS[key])


@conversation
def typed_answer(tx: Tx, person: Person, msg: Inbound) -> bool:
    if msg.is_group or not msg.text.strip():
        return False
    c = tx.conn.execute("SELECT * FROM welfare_checkins WHERE person=? AND status='asked' AND asked_at>=?"
                        " ORDER BY asked_at DESC LIMIT 1", (person.key, tx.now - ANSWER_WINDOW)).fetchone()
    if c is None or is_command(tx, person, msg.text):
        return False  # a recognised command always wins over a pending free-text answer
    record(tx, person, msg, c, msg.text.strip())
    return True


def is_command(tx: Tx, person: Person, text: str) -> bool:
    """Is this a command the person may use ('log ...', 'resume INC-...'), rather than an answer in words?"""
    word, rest = words.split_command(text, tx.app.commands)
    cmd = tx.app.commands.get(word)
    if cmd is None or not allowed(person, cmd.permission):
        return False
    return text.lstrip().startswith("/") or not rest or word not in PROSE_WORDS


# --- marked serious by a manager; RIDDOR ----------------------------------------------------------
def flag_riddor(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row) -> None:
    """Flag for the HSE; promise only reminders that will come, and remind at once if the 5-day point has passed."""
    since = inc["occurred_at"] or inc["created_at"]
    due = since + incident.RIDDOR_DAYS * 86400
    tx.conn.execute("UPDATE incidents SET riddor=1, riddor_due=? WHERE id=?", (due, inc["id"]))
    tx.cancel_wakeups(incident.RIDDOR, inc["id"])
    planned = [before for before in (5, 1) if due - before * 86400 > tx.now]
    for before in planned:
        tx.wake(incident.RIDDOR, inc["id"], due - before * 86400)
    text = f"{inc['ref']} flagged RIDDOR-reportable. "
    if due <= tx.now:
        text += (f"The report to the HSE was due by {tx.local(due).strftime('%a %d %b %Y')} (15 days after it "
                 "happened): it is overdue, report it today.")
    else:
        text += f"The report to the HSE is due by {tx.local(due).strftime('%a %d %b %Y')} (15 days)"
        if planned == [5, 1]:
            text += "; I'll remind you 5 days and 1 day before."
        elif planned == [1]:
            text += "; the 5-day reminder point has passed, so I'm reminding you now, and again 1 day before."
        else:
            text += "; that is less than a day away, so I'm reminding you now."
    tx.reply(msg, Outbound(text), person=person)
    if 5 not in planned:  # flagged late: the first reminder is due already
        riddor_reminder(tx, str(inc["id"]))


@wakeup(incident.RIDDOR)
def riddor_reminder(tx: Tx, ref: str) -> None:
    inc = incident.by_id(tx.conn, ref)
    if inc is None or not inc["riddor"] or inc["anonymised_at"]:
        return
    days = max(0, round((inc["riddor_due"] - tx.now) / 86400))
    text = (f"RIDDOR: {inc['ref']} at {tx.directory.branch_name(inc['branch'])} must be reported to the HSE by "
            f"{tx.local(inc['riddor_due']).strftime('%a %d %b %Y')} ({days} day(s) left).")
    for m in incident.managers_for(tx, inc["branch"]):
        tx.send(m, Outbound(text, priority=Priority.reminder))


def mark_serious(tx: Tx, person: Person, msg: Inbound, inc: sqlite3.Row) -> None:
    tx.conn.execute("UPDATE incidents SET serious=1 WHERE id=?", (inc["id"],))
    tx.reply(msg, Outbound(f"{inc['ref']} marked serious."), person=person)
    start(tx, incident.by_id(tx.conn, inc["id"]) or inc, to=person)
