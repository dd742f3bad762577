"""Lone-working sessions: their state, their timers and what can be done to them.

Lone working: a session with a deadline, a reminder, an "Are you OK?" prompt, then the ladder.

A session is a row in `lone_sessions` whose `next_at` says when its next step is due
(reminder -> "Are you OK?" -> escalation). ONE wake-up row, `lone.sweep`, stands at the
earliest `next_at` of all live sessions; when it fires it steps every session that is due
(up to SWEEP_BATCH per transaction, each in its own savepoint; missed check-ins first, so an
escalation never waits for a later sweep behind other workers' reminders) and re-arms at the next
`next_at`. So the store alone says what happens next, a restart rebuilds it from one row,
and when many deadlines fall together (or the bot was down) they are handled in a few
transactions instead of one each. Every step decides from `tx.now`: a session whose
reminder and deadline both passed while the bot was down goes straight to the escalation,
once, because the step and its new `next_at` commit together.

The chat words, buttons and conversations that drive this are in handlers/lone_working.py.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from bot import escalation, words
from bot.messages import Button, Inbound, Outbound
from bot.model import Book, Ladder, Person, Priority, Severity
from bot.registry import (
    wakeup,
)
from bot.unit import Tx
from bot.words import normalise

log = logging.getLogger(__name__)

SWEEP = "lone.sweep"
SWEEP_BATCH = 100  # sessions stepped per transaction; more due: the sweep runs again at once
# After a sweep that stepped sessions, the next one waits at least this long, so deadlines falling
# close together are stepped in one transaction instead of one each (bench/lone_timers.py: at 500
# deadlines a second the per-transaction work - claim, re-arm, commit, hand-off - was half the cost)
SWEEP_GAP = 0.025
_SWEEPING: set[int] = set()  # ids of the units running a sweep: their steps need not re-arm it one by one
TITLE = "Missed lone-working check-in"
DURESS_TITLE = "Duress: lone worker signalled danger"
MAX_SESSION = 24 * 3600
MAX_EXTEND = 12 * 3600
EXTENSIONS = (15 * 60, 30 * 60)  # the +15 min / +30 min buttons
USAGE = ("Start lone working like this:\n"
         "- lone 45m home visit, 12 High St\n"
         "- lone until 18:30 closing up\n"
         "- lone every 30m for 3h mobile library\n")


class LoneEvent(StrEnum):
    """What can happen to a lone-working session (lone_events.kind; the last four also end it)."""

    STARTED = "started"
    REMINDED = "reminded"
    ASKED = "asked"
    ESCALATED = "escalated"
    CHECKIN = "checkin"
    EXTENDED = "extended"
    FINISHED = "finished"
    DURESS = "duress"
    CLOSED = "closed"


# --- the session -------------------------------------------------------------------
@dataclass(frozen=True)
class Session:
    id: int
    person: str
    branch: str | None
    note: str
    platform: str | None
    started_at: float
    deadline: float
    every: int | None
    ends_at: float
    last_checkin: float | None
    stage: str
    status: str
    alert_id: int | None
    next_at: float | None = None
    drill: bool = False  # fixed when the session started: a drill begun or ended later changes nothing

    @property
    def periodic(self) -> bool:
        return self.every is not None

    @staticmethod
    def from_row(r: sqlite3.Row) -> Session:
        return Session(r["id"], r["person"], r["branch"], r["note"], r["platform"], r["started_at"],
                       r["deadline"], r["every"], r["ends_at"], r["last_checkin"], r["stage"], r["status"],
                       r["alert_id"], r["next_at"], bool(r["drill"]))


_FIELDS = frozenset(f.name for f in fields(Session))


def load(conn: sqlite3.Connection, session_id: int) -> Session | None:
    row = conn.execute("SELECT * FROM lone_sessions WHERE id=?", (session_id,)).fetchone()
    return Session.from_row(row) if row else None


def live_session(conn: sqlite3.Connection, person_key: str) -> Session | None:
    row = conn.execute("SELECT * FROM lone_sessions WHERE person=? AND status='live'", (person_key,)).fetchone()
    return Session.from_row(row) if row else None


def live_sessions(conn: sqlite3.Connection, branch: str | None = None, everywhere: bool = False) -> list[Session]:
    if everywhere:
        rows = conn.execute("SELECT * FROM lone_sessions WHERE status='live' ORDER BY deadline").fetchall()
    else:
        rows = conn.execute("SELECT * FROM lone_sessions WHERE status='live' AND branch IS ? ORDER BY deadline",
                            (branch,)).fetchall()
    return [Session.from_row(r) for r in rows]


def events(conn: sqlite3.Connection, session_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM lone_events WHERE session_id=? ORDER BY id", (session_id,)).fetchall()


def _event(tx: Tx, session_id: int, kind: LoneEvent, text: str) -> None:
    """An unknown kind is a programming error, refused here."""
    tx.conn.execute("INSERT INTO lone_events(session_id, at, kind, text) VALUES(?,?,?,?)",
                    (session_id, tx.now, LoneEvent(kind).value, text))


def open_session(tx: Tx, person: Person, *, seconds: int, note: str = "", every: int | None = None,
                 platform: str | None = None) -> Session:
    """Record a live session and its first wake-up (also used by the benchmark)."""
    deadline = tx.now + (min(every, seconds) if every else seconds)
    cur = tx.conn.execute(
        "INSERT INTO lone_sessions(person, branch, note, platform, started_at, deadline, every, ends_at, drill)"
        " VALUES(?,?,?,?,?,?,?,?,?)",
        (person.key, person.branch, note, platform, tx.now, deadline, every, tx.now + seconds,
         int(escalation.is_drill(tx, person.branch))))
    s = load(tx.conn, int(cur.lastrowid or 0))
    assert s is not None
    how = f"every {human(every)} for {human(seconds)}" if every else f"for {human(seconds)}"
    _event(tx, s.id, LoneEvent.STARTED, f"started {how}" + (f": {note}" if note else ""))
    _schedule(tx, s)
    return s


def _update(tx: Tx, s: Session, **fields: object) -> Session:
    sets = ", ".join(f"{k}=?" for k in fields)
    tx.conn.execute(f"UPDATE lone_sessions SET {sets} WHERE id=?", (*fields.values(), s.id))
    # what was just written, without reading it back (three reads per escalated session)
    return replace(s, **{k: v for k, v in fields.items() if k in _FIELDS})


def _arm(tx: Tx, at: float) -> None:
    """Make sure a sweep is pending at or before `at` (a running sweep re-arms itself at its end)."""
    if id(tx) in _SWEEPING:
        return
    pending = tx.pending_wakeup(SWEEP, "all")
    if pending is None or pending > at:
        tx.wake(SWEEP, "all", at)


def _next(tx: Tx, s: Session, at: float | None, **fields: object) -> Session:
    """Set when the session's next step is due (None: nothing until the worker acts)."""
    s = _update(tx, s, next_at=at, **fields)
    if at is not None:
        _arm(tx, at)
    return s


def _schedule(tx: Tx, s: Session) -> Session:
    """A fresh check-in period: the reminder if there is time for it, else the deadline itself."""
    remind_at = s.deadline - tx.book.lone_working.reminder_lead
    return _next(tx, s, remind_at if remind_at > tx.now else s.deadline, stage="waiting")


def _end(tx: Tx, s: Session, status: LoneEvent, by: str | None, text: str) -> Session:
    _event(tx, s.id, status, text)
    return _update(tx, s, status=LoneEvent(status).value, ended_at=tx.now, ended_by=by, stage="waiting", next_at=None)


# --- words and times --------------------------------------------------------------
human = words.duration  # one way to say a duration


take_duration = words.take_duration


def parse_clock(tx: Tx, word: str) -> tuple[float, str] | None:
    """A local time today ('18:30', '6pm', '6.30pm') as (epoch, shown); None if it is not a time."""
    found = words.time_of_day(word)
    if found is None:
        return None
    hour, minute = found
    now = tx.local()
    when = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return when.timestamp(), f"{hour:02d}:{minute:02d}"


def _phrase_in(text: str, phrases: tuple[str, ...]) -> bool:
    padded = f" {normalise(text)} "
    return any(f" {normalise(p)} " in padded for p in phrases if normalise(p))


# --- what the worker sees ---------------------------------------------------------------
def worker_buttons(s: Session) -> tuple[Button, ...]:
    return (Button("I'm safe", "lone.checkin", str(s.id)),
            *(Button(f"+{e // 60} min", "lone.extend", f"{s.id}:{e}") for e in EXTENSIONS),
            Button("Finish", "lone.finish", str(s.id)))


def _to_worker(tx: Tx, s: Session, out: Outbound) -> str | None:
    """Message the worker on the platform they started on, else their preferred one."""
    person = tx.person(s.person)
    if person is None:
        return None
    for address in tx.ctx.addresses(person):
        if address[0] == s.platform:
            tx.send_to(address, out, person=person.key, tag="lone")
            return address[0]
    return tx.send(person, out, tag="lone")


def _due_text(tx: Tx, s: Session) -> str:
    left = s.deadline - tx.now
    when = f"{tx.hhmm(s.deadline)} (in {human(left)})" if left > 0 else tx.hhmm(s.deadline)
    if s.periodic and s.deadline < s.ends_at:
        return f"next check-in due {when}"
    return f"your session ends at {when}"


def status_text(tx: Tx, s: Session) -> str:
    lines = [f"Lone working since {tx.hhmm(s.started_at)}" + (f": {s.note}" if s.note else "")]
    if s.periodic:
        lines.append(f"Checking in every {human(s.every)} until {tx.hhmm(s.ends_at)}.")
    if s.stage == "escalated":
        lines.append(f"Your check-in was due at {tx.hhmm(s.deadline)} and the duty manager has been told. "
                     "Press I'm safe if you are.")
    elif tx.now >= s.deadline:
        lines.append(f"Your check-in was due at {tx.hhmm(s.deadline)}: press I'm safe now.")
    else:
        lines.append(("Next check-in due " if s.periodic and s.deadline < s.ends_at else "Check in by ")
                     + f"{tx.hhmm(s.deadline)} (in {human(s.deadline - tx.now)}).")
    lines.append(f"Last check-in: {tx.hhmm(s.last_checkin)}." if s.last_checkin else "No check-in yet.")
    return "\n".join(lines)


def finished_text(person: Person) -> str:
    """The normal finish reply; a duress finish shows exactly this too."""
    return f"Thanks, {person.name.split()[0]} - your lone-working session is finished. Get home safely."


# --- the sweep: reminder, "Are you OK?", escalation --------------------------------------
@wakeup(SWEEP)
def sweep(tx: Tx, ref: str) -> None:
    """Step every live session that is due, then stand at the next one. Missed check-ins first (oldest deadline
    first), then the rest oldest first: when more is due than one sweep steps, an escalation never waits for a
    later sweep behind other workers' reminders and "Are you OK?"s."""
    rows = _due(tx)
    _SWEEPING.add(id(tx))
    try:
        for row in rows:
            _step_alone(tx, Session.from_row(row))
    finally:
        _SWEEPING.discard(id(tx))
    tx.cancel_wakeups(SWEEP, "all")
    nxt = tx.conn.execute("SELECT MIN(next_at) FROM lone_sessions WHERE status='live'").fetchone()[0]
    if nxt is not None:  # behind (a full batch): again at once; caught up: not before SWEEP_GAP has passed
        tx.wake(SWEEP, "all", max(nxt, tx.now + SWEEP_GAP) if 0 < len(rows) < SWEEP_BATCH else nxt)


def _due(tx: Tx) -> list[sqlite3.Row]:
    """Up to SWEEP_BATCH due sessions, those past deadline + grace first. Both reads are asked before either is
    read (PostgreSQL: one wait). The first reads every due session to find those past their grace: few while the
    sweep keeps up, the backlog when it is behind (then a sort of it, cheap beside stepping it)."""
    overdue = tx.conn.execute("SELECT * FROM lone_sessions WHERE status='live' AND next_at<=? AND deadline<=?"
                              " ORDER BY deadline LIMIT ?", (tx.now, tx.now - tx.book.lone_working.grace, SWEEP_BATCH))
    oldest = tx.conn.execute("SELECT * FROM lone_sessions WHERE status='live' AND next_at<=? ORDER BY next_at LIMIT ?",
                             (tx.now, SWEEP_BATCH))
    rows = overdue.fetchall()
    if len(rows) < SWEEP_BATCH:
        first = {r["id"] for r in rows}
        rows += [r for r in oldest.fetchall() if r["id"] not in first][:SWEEP_BATCH - len(rows)]
    return rows


def _step_alone(tx: Tx, s: Session) -> None:
    """One session's step in a savepoint: a fault in one session never holds up the others."""
    try:
        with tx.savepoint("lone_step"):
            step(tx, s)
    except Exception:
        log.exception("lone-working session %s: step failed; trying again in 30 s", s.id)
        tx.conn.execute("UPDATE lone_sessions SET next_at=? WHERE id=?", (tx.now + 30, s.id))


def step(tx: Tx, s: Session) -> None:
    """Do what is due for the session now, and set when its next step is."""
    grace = tx.book.lone_working.grace
    if s.status != "live" or s.stage == "escalated":
        _update(tx, s, next_at=None)
    elif tx.now >= s.deadline + grace:  # includes: the bot was down through the grace period
        _escalate(tx, s, asked=s.stage == "asked")
    elif tx.now >= s.deadline:
        if s.stage == "asked":
            _next(tx, s, s.deadline + grace)
        else:
            _ask(tx, s)
    elif s.stage == "waiting" and tx.now >= s.deadline - tx.book.lone_working.reminder_lead:
        _remind(tx, s)
    else:
        _next(tx, s, s.deadline)


def _remind(tx: Tx, s: Session) -> None:
    left = human(s.deadline - tx.now)
    if s.periodic and s.deadline < s.ends_at:
        text = (f"Lone working: your check-in is due at {tx.hhmm(s.deadline)} (in {left}). "
                "Press I'm safe to check in.")
    else:
        text = (f"Lone working: your session ends at {tx.hhmm(s.deadline)} (in {left}). "
                "Press I'm safe when you are done, or add time.")
    _to_worker(tx, s, Outbound(text, buttons=worker_buttons(s), priority=Priority.reminder))
    _event(tx, s.id, LoneEvent.REMINDED, f"reminder sent for the check-in due {tx.hhmm(s.deadline)}")
    _next(tx, s, s.deadline, stage="reminded")


def _ask(tx: Tx, s: Session) -> None:
    """The check-in is due and has not come: ask, and escalate after the grace period."""
    escalate_at = s.deadline + tx.book.lone_working.grace
    text = (f"Are you OK? Your lone-working check-in was due at {tx.hhmm(s.deadline)}. Press I'm safe now - "
            f"if I don't hear from you by {tx.hhmm(escalate_at)}, I will alert the duty manager.")
    _to_worker(tx, s, Outbound(text, buttons=worker_buttons(s), priority=Priority.alarm))
    _event(tx, s.id, LoneEvent.ASKED, f"no check-in by {tx.hhmm(s.deadline)}: asked 'Are you OK?'")
    _next(tx, s, escalate_at, stage="asked")


def details(tx: Tx, s: Session, person: Person | None, *, overdue: bool = True) -> str:
    lines = [f"Phone: {person.phone if person and person.phone else 'not on file'}",
             f"Note: {s.note or '(none)'}",
             f"Started: {tx.hhmm(s.started_at)}"
             + (f", checking in every {human(s.every)} until {tx.hhmm(s.ends_at)}" if s.periodic else ""),
             f"Last check-in: {tx.hhmm(s.last_checkin) if s.last_checkin else 'none'}"]
    if overdue:
        lines.append(f"Overdue: {human(max(0, tx.now - s.deadline))} (check-in was due {tx.hhmm(s.deadline)})")
    else:
        lines.append(f"Next check-in was due {tx.hhmm(s.deadline)}")
    if person is None:
        lines.insert(0, f"Worker: {s.person} (no longer on the roster)")
    return "\n".join(lines)


def _escalate(tx: Tx, s: Session, *, asked: bool) -> None:
    worker = tx.person(s.person)
    alert = escalation.raise_alert(
        tx, kind="lone", ref=str(s.id), severity=Severity.high,
        ladder=tx.book.ladders[tx.book.lone_working.ladder], title=TITLE, person=worker, branch=s.branch,
        details=details(tx, s, worker), ack_reply=None, drill=s.drill)
    _event(tx, s.id, LoneEvent.ESCALATED, f"no check-in by {tx.hhmm(s.deadline)}: alert #{alert.id} raised")
    s = _update(tx, s, stage="escalated", alert_id=alert.id, next_at=None)
    if asked:
        text = ("I have not heard from you, so I have alerted the duty manager. "
                "Press I'm safe as soon as you can.")
    else:
        text = (f"Are you OK? Your lone-working check-in was due at {tx.hhmm(s.deadline)} and I have not heard "
                "from you, so I have alerted the duty manager. Press I'm safe as soon as you can.")
    _to_worker(tx, s, Outbound(text, buttons=worker_buttons(s), priority=Priority.alarm))


def _all_clear(tx: Tx, s: Session, worker: Person) -> list[str]:
    """After an escalation: resolve the alert and tell everyone notified; returns their names."""
    if s.stage != "escalated" or not s.alert_id:
        return []
    tx.conn.execute("UPDATE lone_sessions SET stage='waiting' WHERE id=?", (s.id,))  # before the resolve hook
    escalation.resolve(tx, s.alert_id, worker, note="checked in safe")
    names = []
    for key in escalation.recipients(tx.conn, s.alert_id):
        p = tx.person(key)
        if p and p.key != worker.key:
            tx.send(p, Outbound(f"{worker.name} has checked in and is safe ({tx.hhmm(tx.now)}). "
                                "No need to go or call - thank you.", priority=Priority.alarm),
                    alert_id=s.alert_id, tag="safe")
            names.append(p.name)
    if names:
        escalation.event(tx, s.alert_id, escalation.Kind.SAFE, f"told {', '.join(names)} that {worker.name} is safe")
    return names


def _told(names: list[str]) -> str:
    return f" I've let {', '.join(names)} know you're safe." if names else ""


# --- acting on a session ----------------------------------------------------------------
def checkin(tx: Tx, person: Person, s: Session) -> str:
    names = _all_clear(tx, s, person)
    _event(tx, s.id, LoneEvent.CHECKIN, f"checked in at {tx.hhmm(tx.now)}")
    if tx.now >= s.ends_at - tx.book.lone_working.reminder_lead:  # the last check-in: done
        _end(tx, s, LoneEvent.FINISHED, person.key, "finished with the last check-in")
        return f"Thanks - you're checked in safe and your lone-working session is finished.{_told(names)}"
    if s.periodic:
        nxt = min(tx.now + (s.every or 0), s.ends_at)
        s = _update(tx, s, last_checkin=tx.now, deadline=nxt, stage="waiting")
        _schedule(tx, s)
        return f"Thanks - checked in at {tx.hhmm(tx.now)}; {_due_text(tx, s)}.{_told(names)}"
    s = _update(tx, s, last_checkin=tx.now)
    return (f"Thanks - checked in at {tx.hhmm(tx.now)}; {_due_text(tx, s)}. Send finish when you're done, "
            f"or extend 15m for more time.{_told(names)}")


def extend(tx: Tx, person: Person, s: Session, seconds: int) -> str:
    names = _all_clear(tx, s, person)
    deadline = max(s.deadline, tx.now) + seconds
    s = _update(tx, s, deadline=deadline, ends_at=max(s.ends_at, deadline), last_checkin=tx.now, stage="waiting")
    _event(tx, s.id, LoneEvent.EXTENDED, f"extended by {human(seconds)} to {tx.hhmm(deadline)}")
    _schedule(tx, s)
    what = "check in by" if s.periodic and s.deadline < s.ends_at else "your session now ends at"
    return f"Done - {what} {tx.hhmm(deadline)} (in {human(deadline - tx.now)}).{_told(names)}"


def finish(tx: Tx, person: Person, s: Session) -> str:
    names = _all_clear(tx, s, person)
    _end(tx, s, LoneEvent.FINISHED, person.key, f"finished at {tx.hhmm(tx.now)}")
    return finished_text(person) + _told(names)


def duress_ladder(book: Book) -> tuple[str, Ladder]:
    """The ladder of the most severe codeword (the first such in the book), else the lone ladder."""
    order = list(Severity)
    best = None
    for cw in book.codewords.values():
        if cw.action == "alert" and (best is None or order.index(cw.severity) > order.index(best.severity)):
            best = cw
    name = best.ladder if best else book.lone_working.ladder
    return name, book.ladders[name]


def duress(tx: Tx, person: Person, s: Session) -> str:
    """Looks exactly like a normal finish to whoever is watching the phone; raises the top alert."""
    names = [n for k in escalation.recipients(tx.conn, s.alert_id or 0)
             if (p := tx.person(k)) and (n := p.name) and k != person.key] if s.stage == "escalated" else []
    _end(tx, s, LoneEvent.DURESS, person.key, f"finished at {tx.hhmm(tx.now)}")
    _, ladder = duress_ladder(tx.book)
    text = details(tx, s, person, overdue=False) + (
        "\nThey used the duress phrase while finishing a lone-working session and were shown the normal "
        "'finished' reply. Do not mention this in a message to them: phone, go together, or call 999.")
    alert = escalation.raise_alert(tx, kind="lone_duress", ref=str(s.id), severity=Severity.critical, ladder=ladder,
                                   title=DURESS_TITLE, person=person, branch=s.branch, details=text, ack_reply=None,
                                   drill=s.drill)
    log.info("duress signalled by %s (session %s, alert %s)", person.key, s.id, alert.id)
    if s.alert_id:
        escalation.event(tx, s.alert_id, escalation.Kind.DURESS, f"{person.name} then signalled duress: alert #{alert.id}")
    return finished_text(person) + _told(names)


def is_duress(tx: Tx, text: str) -> bool:
    words = tx.book.lone_working.duress_words
    return bool(words) and bool(text.strip()) and _phrase_in(text, words)


def _reply(tx: Tx, msg: Inbound, person: Person, text: str, s: Session | None = None) -> None:
    tx.reply(msg, Outbound(text, buttons=worker_buttons(s) if s else ()), person=person)


NO_SESSION = "You have no lone-working session running. Start one like this: lone 45m home visit."


