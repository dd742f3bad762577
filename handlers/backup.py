"""Backup requests: `backup [where / what]`, or a codeword whose action is backup.

On-shift colleagues at the branch and the duty manager get a card with On my way /
Can't come; the requester has a separate, discreet card saying who is coming. Nobody
on the way within `backup_wait` (or everyone can't come) raises a real alert so the
ladder climbs. "I'm fine" / "stand down" from the requester stands everyone down.
A codeword sender only ever sees the codeword's cover and ack replies, never "backup".
"""

from __future__ import annotations

import sqlite3

from bot import escalation, words
from bot.messages import DRILL, Button, Inbound, Outbound
from bot.model import Codeword, Person, Priority, Role, Severity, parse_duration
from bot.permissions import allowed
from bot.registry import button, codeword_action, command, home, reads, wakeup
from bot.unit import COVER, Tx
from handlers.codeword import alert as codeword_alert

WAIT = "backup.wait"
ALERT_KINDS = {"backup": "backup request(s)"}  # what a count of this capability's alerts is called
STAND_DOWN_WORDS = words.STAND_DOWN


def _card(rid: int) -> str:
    return f"backup:{rid}"


def _mine(rid: int) -> str:
    return f"backup:{rid}:me"


def load(conn: sqlite3.Connection, rid: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM backup_requests WHERE id=?", (rid,)).fetchone()


def _answers(conn: sqlite3.Connection, rid: int) -> dict[str, str | None]:
    return {r[0]: r[1] for r in conn.execute("SELECT person, answer FROM backup_answers WHERE request_id=?"
                                             " ORDER BY rowid", (rid,))}


def _names(tx: Tx, keys: list[str]) -> str:
    return ", ".join(p.name for k in keys if (p := tx.person(k)))


def _codeword(tx: Tx, req: sqlite3.Row) -> Codeword | None:
    return tx.book.codewords.get(req["codeword"]) if req["codeword"] else None


# --- rendering -----------------------------------------------------------------------------
def render_request(tx: Tx, req: sqlite3.Row) -> Outbound:
    """The card colleagues and the duty manager see."""
    answers = _answers(tx.conn, req["id"])
    coming = [k for k, a in answers.items() if a == "coming"]
    cant = [k for k, a in answers.items() if a == "cant"]
    waiting = [k for k, a in answers.items() if a is None]
    sender = tx.person(req["person"])
    who = (sender.name if sender else req["person"]) + (f" ({sender.phone})" if sender and sender.phone else "")
    lines = [(DRILL if req["drill"] else "") + f"BACKUP WANTED: {who} at {tx.directory.branch_name(req['branch'])}"]
    if req["drill"]:
        lines.append("This is an exercise.")
    if req["what"]:
        lines.append(f"Where / what: {req['what']}")
    lines.append(f"Asked at {tx.hhmm(req['created_at'])}")
    lines.append(f"On the way: {_names(tx, coming) or 'nobody yet'}")
    if cant:
        lines.append(f"Can't come: {_names(tx, cant)}")
    if req["status"] == "open" and waiting:
        lines.append(f"No answer yet: {_names(tx, waiting)}")
    if req["alert_id"] and req["status"] == "open":
        lines.append(f"Nobody was on the way in time: passed up the ladder (alert #{req['alert_id']}).")
    if req["status"] != "open":
        lines.append(f"Stood down at {tx.hhmm(req['ended_at'] or tx.now)}: no longer needed. Thank you.")
        return Outbound("\n".join(lines), priority=Priority.alarm)
    buttons = (Button("On my way", "backup.coming", str(req["id"])), Button("Can't come", "backup.cant", str(req["id"])))
    return Outbound("\n".join(lines), buttons=buttons, priority=Priority.alarm)


def render_mine(tx: Tx, req: sqlite3.Row) -> Outbound:
    """The requester's own card: who is coming, said discreetly."""
    answers = _answers(tx.conn, req["id"])
    coming = [k for k, a in answers.items() if a == "coming"]
    cw = _codeword(tx, req)
    mark = DRILL if req["drill"] else ""
    if cw is not None:  # never say "backup" to a codeword sender
        if req["status"] != "open":
            text = f"{mark}Okay, thanks."
        elif coming:
            text = f"{mark}{cw.ack_reply}\n{_names(tx, coming)} on the way."
        else:
            text = f"{mark}{cw.cover_reply}"
        buttons = () if req["status"] != "open" else (Button("I'm fine", "backup.fine", str(req["id"])),)
        return Outbound(text, buttons=buttons, priority=Priority.alarm)
    if req["status"] != "open":
        return Outbound(f"{mark}Backup stood down at {tx.hhmm(req['ended_at'] or tx.now)}. Everyone has been told.",
                        priority=Priority.alarm)
    asked = [k for k in answers]
    lines = [f"{mark}Backup asked for at {tx.hhmm(req['created_at'])}"
             + (f" from {_names(tx, asked)}." if asked else ".")]
    lines.append(f"On the way: {_names(tx, coming)}" if coming else "On the way: nobody yet.")
    if req["alert_id"] and not coming:
        lines.append("Nobody answered in time, so more people are being asked.")
    lines.append("Say 'I'm fine' to stand everyone down.")
    return Outbound("\n".join(lines), buttons=(Button("I'm fine", "backup.fine", str(req["id"])),),
                    priority=Priority.alarm)


def refresh(tx: Tx, rid: int) -> sqlite3.Row:
    req = load(tx.conn, rid)
    assert req is not None
    tx.set_card(_card(rid), render_request(tx, req))
    tx.set_card(_mine(rid), render_mine(tx, req))
    return req


# --- asking -----------------------------------------------------------------------------------
def request(tx: Tx, person: Person, msg: Inbound, what: str, codeword: Codeword | None = None) -> int:
    branch = person.branch
    drill = escalation.is_drill(tx, branch)
    cur = tx.conn.execute(
        "INSERT INTO backup_requests(person, branch, what, codeword, drill, reply_platform, reply_chat, created_at)"
        " VALUES(?,?,?,?,?,?,?,?)",
        (person.key, branch, what, codeword.key if codeword else None, int(drill), msg.platform, msg.chat_id, tx.now))
    rid = int(cur.lastrowid or 0)
    d = tx.directory
    keys = list(dict.fromkeys(d.on_shift(tx.conn, branch, tx.local()) + d.duty_managers(tx.conn, branch, tx.local())))
    people = [p for k in keys if k != person.key and (p := d.person(k)) and allowed(p, "answer_backup")]
    for p in people:
        tx.conn.execute("INSERT INTO backup_answers(request_id, person) VALUES(?,?)"
                        " ON CONFLICT DO NOTHING", (rid, p.key))
    req = refresh(tx, rid)
    tx.reply(msg, Outbound("", card=_mine(rid), priority=Priority.alarm), person=person,
             tag=COVER if codeword else "reply")
    reached = [p for p in people if tx.send(p, Outbound("", card=_card(rid), priority=Priority.alarm), tag="backup")]
    if not reached:
        escalate(tx, req, "nobody on shift or on duty at the branch could be asked")
    else:
        tx.wake(WAIT, rid, tx.now + parse_duration(tx.ctx.settings.backup_wait))
    return rid


def escalate(tx: Tx, req: sqlite3.Row, why: str) -> None:
    """Nobody is on the way: raise a real alert so the ladder climbs."""
    if req["alert_id"] or req["status"] != "open":
        return
    sender = tx.person(req["person"])
    cw = _codeword(tx, req)
    ladders = tx.book.ladders
    ladder = ladders.get(cw.ladder if cw else tx.ctx.settings.backup_ladder) or next(iter(ladders.values()))
    asked = _answers(tx.conn, req["id"])
    details = (f"Where / what: {req['what']}\n" if req["what"] else "") + f"Backup not answered: {why}."
    alert = escalation.raise_alert(
        tx, kind="backup", ref=str(req["id"]), severity=cw.severity if cw else Severity.high, ladder=ladder,
        title="Backup wanted - nobody on the way", person=sender, branch=req["branch"], details=details,
        ack_reply=cw.ack_reply if cw else "Someone has picked up your backup request and is on the way.",
        reply_to=(req["reply_platform"], req["reply_chat"]) if req["reply_platform"] else None,
        drill=bool(req["drill"]))
    asked_text = ", ".join(f"{_names(tx, [k])} ({'can not come' if a == 'cant' else 'no answer'})"
                           for k, a in asked.items()) or "nobody"
    escalation.event(tx, alert.id, escalation.Kind.BACKUP, f"backup request #{req['id']} asked first: {asked_text}")
    tx.conn.execute("UPDATE backup_requests SET alert_id=? WHERE id=?", (alert.id, req["id"]))
    refresh(tx, req["id"])


@wakeup(WAIT)
def wait_over(tx: Tx, ref: str) -> None:
    req = load(tx.conn, int(ref))
    if req is None or req["status"] != "open":
        return
    if "coming" in _answers(tx.conn, req["id"]).values():
        return
    escalate(tx, req, f"nobody said On my way within {words.duration(parse_duration(tx.ctx.settings.backup_wait))}")


ASK = "backup.ask"


def ask_button() -> Button:
    """One press to ask for backup (offered to someone who typed "I need help" outside a lockdown)."""
    return Button("Ask for backup now", ASK, "")


@button(ASK, permission="request_backup")
def ask_now(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    backup_command(tx, person, msg, "")


@command("backup", permission="request_backup", help="ask colleagues on shift and the duty manager to come",
         usage="backup [where / what]", urgent=True)
def backup_command(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    if person.branch is None:
        tx.reply(msg, Outbound("You are not rostered at a branch, so I cannot tell who is nearby. "
                               "Phone your colleagues, or 999 in an emergency."), person=person)
        return
    request(tx, person, msg, args.strip())


@codeword_action("backup")
def from_codeword(tx: Tx, person: Person, msg: Inbound, codeword: Codeword) -> None:
    if person.branch is None:  # nobody to ask nearby: straight to the ladder, like any codeword
        codeword_alert(tx, person, msg, codeword)
        return
    request(tx, person, msg, codeword.meaning, codeword)


# --- answering ---------------------------------------------------------------------------------
def _for(tx: Tx, person: Person, msg: Inbound, arg: str) -> sqlite3.Row | None:
    req = load(tx.conn, n) if (n := words.number(arg)) is not None else None
    if req is None:
        tx.reply(msg, Outbound("That request has expired."), person=person)
        return None
    if req["status"] != "open":
        tx.reply(msg, Outbound("That request has been stood down: no longer needed."), person=person)
        return None
    asked = tx.conn.execute("SELECT 1 FROM backup_answers WHERE request_id=? AND person=?",
                            (req["id"], person.key)).fetchone()
    on_alert = req["alert_id"] and escalation.was_notified(tx.conn, req["alert_id"], person.key)
    if not (asked or on_alert or person.may(Role.duty_manager)) or person.key == req["person"]:
        tx.reply(msg, Outbound("That request is not one you were asked to answer."), person=person)
        return None
    return req


def _answer(tx: Tx, req: sqlite3.Row, person: Person, answer: str) -> None:
    tx.conn.execute("INSERT INTO backup_answers(request_id, person, answer, at) VALUES(?,?,?,?)"
                    " ON CONFLICT(request_id, person) DO UPDATE SET answer=excluded.answer, at=excluded.at",
                    (req["id"], person.key, answer, tx.now))


@button("backup.coming", permission="answer_backup")
def coming(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    req = _for(tx, person, msg, arg)
    if req is None:
        return
    _answer(tx, req, person, "coming")
    tx.cancel_wakeups(WAIT, req["id"])
    if req["alert_id"]:
        alert = escalation.load(tx.conn, req["alert_id"])
        if alert and alert.status == "open":
            escalation.ack(tx, alert.id, person)
        if alert:
            escalation.event(tx, alert.id, escalation.Kind.BACKUP, f"{person.name} is on the way", person.key)
    refresh(tx, req["id"])
    sender = tx.person(req["person"])
    tx.reply(msg, Outbound(f"Thanks. {sender.name if sender else 'They'} can see you are on your way."),
             person=person)


@button("backup.cant", permission="answer_backup")
def cant(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    req = _for(tx, person, msg, arg)
    if req is None:
        return
    _answer(tx, req, person, "cant")
    answers = _answers(tx.conn, req["id"])
    req = refresh(tx, req["id"])
    tx.reply(msg, Outbound("Okay, noted that you can't come."), person=person)
    if answers and all(a == "cant" for a in answers.values()):  # nobody left to wait for
        tx.cancel_wakeups(WAIT, req["id"])
        escalate(tx, req, "everyone asked said they can't come")


# --- standing down -----------------------------------------------------------------------------
def stand_down(tx: Tx, req: sqlite3.Row, person: Person) -> None:
    tx.conn.execute("UPDATE backup_requests SET status='stood_down', ended_at=? WHERE id=?", (tx.now, req["id"]))
    tx.cancel_wakeups(WAIT, req["id"])
    if req["alert_id"]:
        # the requester knows already: no "someone is coming" message to them now
        escalation.resolve(tx, req["alert_id"], person, "stood down: no longer needed",
                           tell_sender=person.key != req["person"])
    refresh(tx, req["id"])


def open_requests(tx: Tx, person: Person) -> list[sqlite3.Row]:
    return tx.conn.execute("SELECT * FROM backup_requests WHERE person=? AND status='open' ORDER BY id",
                           (person.key,)).fetchall()


def _stand_down_all(tx: Tx, person: Person, msg: Inbound) -> bool:
    reqs = open_requests(tx, person)
    if not reqs:
        return False
    for req in reqs:
        stand_down(tx, req, person)
    discreet = any(r["codeword"] for r in reqs)
    mark = DRILL if any(r["drill"] for r in reqs) else ""
    tx.reply(msg, Outbound(mark + ("Okay, thanks." if discreet else "Okay - everyone has been stood down.")),
             person=person)
    return True


@button("backup.fine", permission="request_backup")
def fine(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    req = load(tx.conn, n) if (n := words.number(arg)) is not None else None
    if req is None or req["status"] != "open":
        tx.reply(msg, Outbound("Okay, thanks."), person=person)
        return
    if req["person"] != person.key and not person.may(Role.duty_manager):
        tx.reply(msg, Outbound("Only the person who asked can stand this down."), person=person)
        return
    stand_down(tx, req, person)
    tx.reply(msg, Outbound((DRILL if req["drill"] else "") + (
        "Okay, thanks." if req["codeword"] else "Okay - everyone has been stood down.")), person=person)


@command("standdown", permission="request_backup", help="cancel your backup request (or: I'm fine)", usage="stand down",
         urgent=True)
def stand_down_command(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    if not _stand_down_all(tx, person, msg):
        tx.reply(msg, Outbound("You have no open backup request."), person=person)


@reads(phrases=STAND_DOWN_WORDS)
def stand_down_words(tx: Tx, person: Person, msg: Inbound) -> bool:
    """'I'm fine' / 'stand down' from someone with an open request (before forms and command words)."""
    if msg.is_group or words.normalise(msg.text) not in STAND_DOWN_WORDS:
        return False
    return _stand_down_all(tx, person, msg)



@home
def backup_home(tx: Tx, person: Person) -> list[str]:
    lines = []
    for req in open_requests(tx, person):
        if req["codeword"]:
            continue  # discreet: the overview never shows a codeword's request
        coming = [k for k, a in _answers(tx.conn, req["id"]).items() if a == "coming"]
        lines.append(f"Your backup request from {tx.hhmm(req['created_at'])}: on the way - "
                     f"{_names(tx, coming) or 'nobody yet'}. Say 'I'm fine' to stand it down.")
    return lines
