"""Lone working: a session with a deadline, a reminder, an "Are you OK?" prompt, then the ladder.

A session is a row in `lone_sessions` whose `next_at` says when its next step is due
(reminder -> "Are you OK?" -> escalation). ONE wake-up row, `lone.sweep`, stands at the
earliest `next_at` of all live sessions; when it fires it steps every session that is due
(up to SWEEP_BATCH per transaction, each in its own savepoint) and re-arms at the next
`next_at`. So the store alone says what happens next, a restart rebuilds it from one row,
and when many deadlines fall together (or the bot was down) they are handled in a few
transactions instead of one each. Every step decides from `tx.now`: a session whose
reminder and deadline both passed while the bot was down goes straight to the escalation,
once, because the step and its new `next_at` commit together.

Words (any platform, the session belongs to the person, not the chat):
  lone 45m home visit, 12 High St | lone until 18:30 closing up | lone closing (a preset)
  lone every 30m for 3h mobile library | lone list | sessions
  checkin / safe / ok / "I'm safe" | extend 15m | finish / done | status
A check-in is proof of life: it records the time and, after an escalation, resolves the
alert and tells everyone who was notified. In a one-deadline session a check-in inside
the reminder window (or later) also ends the session; earlier it is just recorded.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from bot import escalation
from bot.matching import normalise
from bot.messages import Button, Inbound, Outbound
from bot.model import Book, Ladder, Person, Priority, Role, Severity
from bot.permissions import allowed
from bot.registry import (
    COMMANDS,
    FIRST_CONVERSATIONS,
    STARTUP_HOOKS,
    Command,
    button,
    command,
    conversation,
    home,
    wakeup,
)
from bot.router import NOT_ALLOWED
from bot.unit import Tx

log = logging.getLogger(__name__)

SWEEP = "lone.sweep"
SWEEP_BATCH = 100  # sessions stepped per transaction; more due: the sweep runs again at once
TITLE = "Missed lone-working check-in"
DURESS_TITLE = "Duress: lone worker signalled danger"
MAX_SESSION = 24 * 3600
MAX_EXTEND = 12 * 3600
EXTENSIONS = (15 * 60, 30 * 60)  # the +15 min / +30 min buttons
USAGE = ("Start lone working like this:\n"
         "- lone 45m home visit, 12 High St\n"
         "- lone until 18:30 closing up\n"
         "- lone every 30m for 3h mobile library\n")


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

    @property
    def periodic(self) -> bool:
        return self.every is not None

    @staticmethod
    def from_row(r: sqlite3.Row) -> Session:
        return Session(r["id"], r["person"], r["branch"], r["note"], r["platform"], r["started_at"],
                       r["deadline"], r["every"], r["ends_at"], r["last_checkin"], r["stage"], r["status"],
                       r["alert_id"], r["next_at"])


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


def _event(tx: Tx, session_id: int, kind: str, text: str) -> None:
    tx.conn.execute("INSERT INTO lone_events(session_id, at, kind, text) VALUES(?,?,?,?)",
                    (session_id, tx.now, kind, text))


def open_session(tx: Tx, person: Person, *, seconds: int, note: str = "", every: int | None = None,
                 platform: str | None = None) -> Session:
    """Record a live session and its first wake-up (also used by the benchmark)."""
    deadline = tx.now + (min(every, seconds) if every else seconds)
    cur = tx.conn.execute(
        "INSERT INTO lone_sessions(person, branch, note, platform, started_at, deadline, every, ends_at)"
        " VALUES(?,?,?,?,?,?,?,?)",
        (person.key, person.branch, note, platform, tx.now, deadline, every, tx.now + seconds))
    s = load(tx.conn, int(cur.lastrowid or 0))
    assert s is not None
    how = f"every {human(every)} for {human(seconds)}" if every else f"for {human(seconds)}"
    _event(tx, s.id, "started", f"started {how}" + (f": {note}" if note else ""))
    _schedule(tx, s)
    return s


def _update(tx: Tx, s: Session, **fields: object) -> Session:
    sets = ", ".join(f"{k}=?" for k in fields)
    tx.conn.execute(f"UPDATE lone_sessions SET {sets} WHERE id=?", (*fields.values(), s.id))
    fresh = load(tx.conn, s.id)
    assert fresh is not None
    return fresh


def _arm(tx: Tx, at: float) -> None:
    """Make sure a sweep is pending at or before `at`."""
    pending = tx.conn.execute("SELECT MIN(due_at) FROM wakeups WHERE kind=? AND ref='all' AND status='pending'",
                              (SWEEP,)).fetchone()[0]
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


def _end(tx: Tx, s: Session, status: str, by: str | None, text: str) -> Session:
    _event(tx, s.id, status, text)
    return _update(tx, s, status=status, ended_at=tx.now, ended_by=by, stage="waiting", next_at=None)


# --- words and times --------------------------------------------------------------
_DUR = re.compile(r"^(?:(\d+)(?:h|hr|hrs|hour|hours))?(?:(\d+)(?:m|min|mins|minute|minutes))?"
                  r"(?:(\d+)(?:s|sec|secs|second|seconds))?$")
_TIME = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?(am|pm)?$")


def human(seconds: float | None) -> str:
    s = int(round(seconds or 0))
    if s < 60:
        return f"{s} s"
    h, m = divmod(round(s / 60), 60)
    if not h:
        return f"{m} min"
    return f"{h} h {m} min" if m else f"{h} h"


def take_duration(words: list[str]) -> tuple[int, int] | None:
    """(seconds, words used) from the start of `words`: 45m, 1h30m, 90s, '1 hour 30 min', 45 (minutes)."""
    for n in range(min(4, len(words)), 0, -1):
        m = _DUR.match("".join(words[:n]).lower())
        if m and any(m.groups()):
            h, mi, s = (int(g or 0) for g in m.groups())
            return (h * 60 + mi) * 60 + s, n
    if words and words[0].isdigit():
        return int(words[0]) * 60, 1
    return None


def parse_clock(tx: Tx, word: str) -> tuple[float, str] | None:
    """A local time today ('18:30', '6pm', '6.30pm') as (epoch, shown); None if it is not a time."""
    m = _TIME.match(word.lower())
    if not m or (m.group(2) is None and m.group(3) is None):
        return None
    hour, minute, ampm = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
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
    """Step every live session that is due (oldest first), then stand at the next one."""
    rows = tx.conn.execute("SELECT * FROM lone_sessions WHERE status='live' AND next_at<=? ORDER BY next_at LIMIT ?",
                           (tx.now, SWEEP_BATCH)).fetchall()
    for row in rows:
        _step_alone(tx, Session.from_row(row))
    tx.conn.execute("UPDATE wakeups SET status='cancelled' WHERE kind=? AND ref='all' AND status='pending'", (SWEEP,))
    nxt = tx.conn.execute("SELECT MIN(next_at) FROM lone_sessions WHERE status='live'").fetchone()[0]
    if nxt is not None:
        tx.wake(SWEEP, "all", nxt)  # already due (a full batch): it fires again at once


def _step_alone(tx: Tx, s: Session) -> None:
    """One session's step in a savepoint: a fault in one session never holds up the others."""
    rows, wakes, dropped = len(tx.new_rows), len(tx.new_wakeups), len(tx.dropped)
    tx.conn.execute("SAVEPOINT lone_step")
    try:
        step(tx, s)
    except Exception:
        log.exception("lone-working session %s: step failed; trying again in 30 s", s.id)
        tx.conn.execute("ROLLBACK TO lone_step")
        del tx.new_rows[rows:], tx.new_wakeups[wakes:], tx.dropped[dropped:]
        tx.conn.execute("UPDATE lone_sessions SET next_at=? WHERE id=?", (tx.now + 30, s.id))
    tx.conn.execute("RELEASE lone_step")


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
    _event(tx, s.id, "reminded", f"reminder sent for the check-in due {tx.hhmm(s.deadline)}")
    _next(tx, s, s.deadline, stage="reminded")


def _ask(tx: Tx, s: Session) -> None:
    """The check-in is due and has not come: ask, and escalate after the grace period."""
    escalate_at = s.deadline + tx.book.lone_working.grace
    text = (f"Are you OK? Your lone-working check-in was due at {tx.hhmm(s.deadline)}. Press I'm safe now - "
            f"if I don't hear from you by {tx.hhmm(escalate_at)}, I will alert the duty manager.")
    _to_worker(tx, s, Outbound(text, buttons=worker_buttons(s), priority=Priority.alarm))
    _event(tx, s.id, "asked", f"no check-in by {tx.hhmm(s.deadline)}: asked 'Are you OK?'")
    _next(tx, s, escalate_at, stage="asked")


def details(tx: Tx, s: Session, person: Person | None, *, overdue: bool = True) -> str:
    lines = [f"Phone: {person.phone if person and person.phone else 'not on file'}",
             f"Note: {s.note or '(none)'}",
             f"Started: {tx.hhmm(s.started_at)}"
             + (f", checking in every {human(s.every)} until {tx.hhmm(s.ends_at)}" if s.periodic else ""),
             f"Last check-in: {tx.hhmm(s.last_checkin) if s.last_checkin else 'none'}"]
    if overdue:
        mins = max(0, int((tx.now - s.deadline) // 60))
        lines.append(f"Overdue: {mins} min (check-in was due {tx.hhmm(s.deadline)})")
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
        details=details(tx, s, worker), ack_reply=None)
    _event(tx, s.id, "escalated", f"no check-in by {tx.hhmm(s.deadline)}: alert #{alert.id} raised")
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
    for (key,) in tx.conn.execute("SELECT person FROM alert_recipients WHERE alert_id=? ORDER BY rowid",
                                  (s.alert_id,)).fetchall():
        p = tx.person(key)
        if p and p.key != worker.key:
            tx.send(p, Outbound(f"{worker.name} has checked in and is safe ({tx.hhmm(tx.now)}). "
                                "No need to go or call - thank you.", priority=Priority.alarm),
                    alert_id=s.alert_id, tag="safe")
            names.append(p.name)
    if names:
        escalation.event(tx, s.alert_id, "safe", f"told {', '.join(names)} that {worker.name} is safe")
    return names


def _told(names: list[str]) -> str:
    return f" I've let {', '.join(names)} know you're safe." if names else ""


# --- acting on a session ----------------------------------------------------------------
def checkin(tx: Tx, person: Person, s: Session) -> str:
    names = _all_clear(tx, s, person)
    _event(tx, s.id, "checkin", f"checked in at {tx.hhmm(tx.now)}")
    if tx.now >= s.ends_at - tx.book.lone_working.reminder_lead:  # the last check-in: done
        _end(tx, s, "finished", person.key, "finished with the last check-in")
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
    _event(tx, s.id, "extended", f"extended by {human(seconds)} to {tx.hhmm(deadline)}")
    _schedule(tx, s)
    what = "check in by" if s.periodic and s.deadline < s.ends_at else "your session now ends at"
    return f"Done - {what} {tx.hhmm(deadline)} (in {human(deadline - tx.now)}).{_told(names)}"


def finish(tx: Tx, person: Person, s: Session) -> str:
    names = _all_clear(tx, s, person)
    _end(tx, s, "finished", person.key, f"finished at {tx.hhmm(tx.now)}")
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
    names = [n for (k,) in tx.conn.execute("SELECT person FROM alert_recipients WHERE alert_id=? ORDER BY rowid",
                                           (s.alert_id or 0,)).fetchall()
             if (p := tx.person(k)) and (n := p.name) and k != person.key] if s.stage == "escalated" else []
    _end(tx, s, "duress", person.key, f"finished at {tx.hhmm(tx.now)}")
    _, ladder = duress_ladder(tx.book)
    text = details(tx, s, person, overdue=False) + (
        "\nThey used the duress phrase while finishing a lone-working session and were shown the normal "
        "'finished' reply. Do not mention this in a message to them: phone, go together, or call 999.")
    alert = escalation.raise_alert(tx, kind="lone_duress", ref=str(s.id), severity=Severity.critical, ladder=ladder,
                                   title=DURESS_TITLE, person=person, branch=s.branch, details=text, ack_reply=None)
    log.info("duress signalled by %s (session %s, alert %s)", person.key, s.id, alert.id)
    if s.alert_id:
        escalation.event(tx, s.alert_id, "duress", f"{person.name} then signalled duress: alert #{alert.id}")
    return finished_text(person) + _told(names)


def is_duress(tx: Tx, text: str) -> bool:
    words = tx.book.lone_working.duress_words
    return bool(words) and bool(text.strip()) and _phrase_in(text, words)


def _reply(tx: Tx, msg: Inbound, person: Person, text: str, s: Session | None = None) -> None:
    tx.reply(msg, Outbound(text, buttons=worker_buttons(s) if s else ()), person=person)


NO_SESSION = "You have no lone-working session running. Start one like this: lone 45m home visit."


# --- commands -------------------------------------------------------------------------------
def _words(*names: str, help: str = "", usage: str = "") -> Callable:
    """Register lone-working words. A generic word another capability already answers (say 'ok' or
    'status') is shared: it means lone working only while the person has a live session."""

    def register(fn: Callable) -> Callable:
        for name in names:
            prev = COMMANDS.get(name)

            def handler(tx: Tx, person: Person, msg: Inbound, args: str, _prev: Command | None = prev) -> None:
                s = live_session(tx.conn, person.key)
                if s is None and _prev is not None and not is_duress(tx, msg.text):
                    if allowed(person, _prev.permission):
                        _prev.fn(tx, person, msg, args)
                    else:
                        tx.reply(msg, Outbound(NOT_ALLOWED), person=person)
                    return
                fn(tx, person, msg, args, s)

            if prev is None:
                COMMANDS[name] = Command(names[0], handler, "lone_work", help, usage)
            else:  # keep the other capability's entry in help
                COMMANDS[name] = Command(prev.name, handler, "lone_work", prev.help, prev.usage)
        return fn

    return register


@_words("lone", "lonework", "lone-working", help="start a lone-working session",
        usage="lone 45m <note> | lone until 18:30 <note> | lone every 30m for 3h <note>")
def lone(tx: Tx, person: Person, msg: Inbound, args: str, s: Session | None) -> None:
    words = args.split()
    first = words[0].lower() if words else ""
    if first in ("list", "sessions"):
        list_sessions(tx, person, msg, "", s)
        return
    if first == "status":
        status(tx, person, msg, "", s)
        return
    if first in ("finish", "done", "stop", "end", "off"):
        finish_word(tx, person, msg, "", s)
        return
    if s is not None:
        _reply(tx, msg, person, f"You already have a lone-working session running: {_due_text(tx, s)}.\n"
               "Send finish to end it, or extend 15m for more time.", s)
        return
    started = _start(tx, person, msg, words)
    if started:
        _reply(tx, msg, person, started)


def _start(tx: Tx, person: Person, msg: Inbound, words: list[str]) -> str | None:
    lw = tx.book.lone_working
    presets = ", ".join(f"{k} ({human(v)})" for k, v in lw.presets.items())
    usage = USAGE + (f"- lone <preset>: {presets}" if presets else "")
    if not words:
        tx.reply(msg, Outbound(usage), person=person)
        return None
    every = None
    if words[0].lower() == "every":
        took = take_duration(words[1:])
        if took is None or len(words) < 2 + took[1]:
            tx.reply(msg, Outbound("Say how often and for how long, e.g. lone every 30m for 3h mobile library."),
                     person=person)
            return None
        every, used = took
        words = words[1 + used:]
        if words and words[0].lower() == "for":
            words = words[1:]
    seconds, note = _length(tx, person, msg, words, allow_preset=every is None)
    if seconds is None:
        return None
    if every is not None and not 0 < every < seconds:
        tx.reply(msg, Outbound(f"The check-in interval ({human(every)}) must be shorter than the whole time "
                               f"({human(seconds)}), e.g. lone every 30m for 3h."), person=person)
        return None
    s = open_session(tx, person, seconds=seconds, note=note, every=every,
                     platform=None if msg.is_group else msg.platform)
    lead = tx.book.lone_working.reminder_lead
    about = f": {note}" if note else ""
    if every:
        return (f"Lone working started at {tx.hhmm(tx.now)}{about}.\nCheck in every {human(every)} until "
                f"{tx.hhmm(s.ends_at)}; the first check-in is due {tx.hhmm(s.deadline)}. I'll remind you "
                f"{human(lead)} before each.\nSend safe to check in, extend 15m for more time, finish when done.")
    return (f"Lone working started at {tx.hhmm(tx.now)}{about}.\nCheck in by {tx.hhmm(s.deadline)} "
            f"(in {human(seconds)}); I'll remind you {human(lead)} before.\n"
            "Send finish when you're done, extend 15m for more time, or status to see your session.")


def _length(tx: Tx, person: Person, msg: Inbound, words: list[str], allow_preset: bool) -> tuple[int | None, str]:
    """(seconds, note) from 'until 18:30 ...', '45m ...' or a preset; replies itself when it cannot."""
    lw = tx.book.lone_working
    if words and words[0].lower() == "until":
        clock = parse_clock(tx, words[1]) if len(words) > 1 else None
        if clock is None:
            tx.reply(msg, Outbound("Say the time like this: lone until 18:30 closing up."), person=person)
            return None, ""
        at, shown = clock
        if at <= tx.now:
            tx.reply(msg, Outbound(f"{shown} has already passed today (it is {tx.hhmm(tx.now)} now), so I have "
                                   "not started a session. Send a length instead, e.g. lone 45m closing up."),
                     person=person)
            return None, ""
        seconds, note = int(round(at - tx.now)), " ".join(words[2:])
    elif allow_preset and words and words[0].lower() in lw.presets:
        seconds = lw.presets[words[0].lower()]
        note = words[0].lower() + (f" - {' '.join(words[1:])}" if len(words) > 1 else "")
    else:
        took = take_duration(words)
        if took is None:
            presets = f" or a preset ({', '.join(lw.presets)})" if lw.presets and allow_preset else ""
            tx.reply(msg, Outbound(f"I need a length like 45m, 1h30m or 90s, a time (until 18:30){presets}.\n"
                                   + USAGE), person=person)
            return None, ""
        seconds, used = took
        note = " ".join(words[used:])
    if seconds <= 0:
        tx.reply(msg, Outbound("The session needs to last longer than that."), person=person)
        return None, ""
    if seconds > MAX_SESSION:
        tx.reply(msg, Outbound(f"A session can last at most {human(MAX_SESSION)}; start a shorter one and "
                               "extend it if you need to."), person=person)
        return None, ""
    return seconds, note.strip()


@_words("checkin", "check-in", help="check in during lone working (or: safe, ok, I'm safe)", usage="checkin")
def checkin_word(tx: Tx, person: Person, msg: Inbound, args: str, s: Session | None) -> None:
    if s is None:
        tx.reply(msg, Outbound(NO_SESSION), person=person)
        return
    _reply(tx, msg, person, checkin(tx, person, s))


@_words("extend", help="more time for your lone-working session", usage="extend 15m")
def extend_word(tx: Tx, person: Person, msg: Inbound, args: str, s: Session | None) -> None:
    if s is None:
        tx.reply(msg, Outbound(NO_SESSION), person=person)
        return
    took = take_duration(args.split()) if args.strip() else (EXTENSIONS[0], 0)
    if took is None or not 0 < took[0] <= MAX_EXTEND:
        tx.reply(msg, Outbound(f"Say how much longer, e.g. extend 15m (at most {human(MAX_EXTEND)})."), person=person)
        return
    _reply(tx, msg, person, extend(tx, person, s, took[0]))


@_words("finish", "finished", help="end your lone-working session (or: done)", usage="finish")
def finish_word(tx: Tx, person: Person, msg: Inbound, args: str, s: Session | None) -> None:
    if s is None:
        tx.reply(msg, Outbound("You have no lone-working session running."), person=person)
        return
    tx.reply(msg, Outbound(finish(tx, person, s)), person=person)


@_words("status", help="your lone-working session", usage="status")
def status(tx: Tx, person: Person, msg: Inbound, args: str, s: Session | None) -> None:
    extra = ""
    if allowed(person, "list_lone_sessions"):
        n = len(_visible(tx, person))
        extra = f"\nLive lone-working sessions you can see: {n} (send sessions for the list)." if n else ""
    if s is None:
        tx.reply(msg, Outbound("You have no lone-working session running." + extra), person=person)
        return
    _reply(tx, msg, person, status_text(tx, s) + extra, s)


def _visible(tx: Tx, person: Person) -> list[Session]:
    return live_sessions(tx.conn, person.branch, everywhere=person.role == Role.admin)


def list_sessions(tx: Tx, person: Person, msg: Inbound, args: str, s: Session | None = None) -> None:
    if not allowed(person, "list_lone_sessions"):
        tx.reply(msg, Outbound(NOT_ALLOWED), person=person)
        return
    sessions = _visible(tx, person)
    where = "" if person.role == Role.admin else f" at {tx.directory.branch_name(person.branch)}"
    if not sessions:
        tx.reply(msg, Outbound(f"Nobody is lone working{where} now."), person=person)
        return
    lines = [f"Live lone-working sessions{where}:"]
    for x in sessions:
        who = tx.person(x.person)
        name = who.name if who else x.person
        phone = f" ({who.phone})" if who and who.phone else ""
        place = f", {tx.directory.branch_name(x.branch)}" if person.role == Role.admin else ""
        if x.stage == "escalated":
            state = f"MISSED check-in due {tx.hhmm(x.deadline)} - alert #{x.alert_id}"
        elif tx.now >= x.deadline:
            state = f"check-in overdue since {tx.hhmm(x.deadline)}"
        else:
            state = f"check-in due {tx.hhmm(x.deadline)} (in {human(x.deadline - tx.now)})"
        note = f" - {x.note}" if x.note else ""
        lines.append(f"- {name}{phone}{place}{note}; since {tx.hhmm(x.started_at)}; {state}")
    tx.reply(msg, Outbound("\n".join(lines)), person=person)


command("sessions", "lone-list", permission="list_lone_sessions", help="live lone-working sessions at your branch",
        usage="sessions")(lambda tx, person, msg, args: list_sessions(tx, person, msg, args))


# Everyday words other capabilities answer too (a roll call's "safe", a welfare check's "ok", a form's
# "done"): they are conversation, not commands, and mean lone working only while a session is live.
_SAFE_PHRASES = {"im safe", "i am safe", "im ok", "i am ok", "im okay", "i am okay", "check in", "checking in",
                 "all ok", "all good", "all fine", "safe", "ok", "okay"}
_DONE_PHRASES = {"done", "all done", "im done", "i am done", "finished now"}


@conversation
def lone_conversation(tx: Tx, person: Person, msg: Inbound) -> bool:
    """'I'm safe' and 'done', for someone with a live session (else not ours)."""
    if not msg.text.strip():
        return False
    s = live_session(tx.conn, person.key)
    if s is None:
        return False
    text = normalise(msg.text)
    if text in _SAFE_PHRASES:
        _reply(tx, msg, person, checkin(tx, person, s))
        return True
    if text in _DONE_PHRASES:
        tx.reply(msg, Outbound(finish(tx, person, s)), person=person)
        return True
    return False


def duress_first(tx: Tx, person: Person, msg: Inbound) -> bool:
    """The duress phrase from someone with a live session, asked before anything else that reads typed
    text (a form waiting for an answer, command words), as codewords are: it must never be swallowed."""
    if not is_duress(tx, msg.text):
        return False
    s = live_session(tx.conn, person.key)
    if s is None:
        return False
    _reply(tx, msg, person, duress(tx, person, s))
    return True


FIRST_CONVERSATIONS.insert(0, duress_first)


# --- buttons ---------------------------------------------------------------------------------
def _button_session(tx: Tx, person: Person, msg: Inbound, arg: str, strict: bool) -> Session | None:
    """The pressed session if it is this person's and live; a proof-of-life press also counts for their
    current session (an old reminder's I'm safe); Finish only ever ends the session it was shown for."""
    sid = arg.split(":", 1)[0]
    s = load(tx.conn, int(sid)) if sid.isdigit() else None
    if s is not None and s.person == person.key and s.status == "live":
        return s
    current = None if strict else live_session(tx.conn, person.key)
    if current is None:
        text = "That lone-working session has already finished." if s and s.person == person.key else NO_SESSION
        tx.reply(msg, Outbound(text), person=person)
    return current


@button("lone.checkin", permission="lone_work")
def checkin_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    s = _button_session(tx, person, msg, arg, strict=False)
    if s:
        _reply(tx, msg, person, checkin(tx, person, s))


@button("lone.extend", permission="lone_work")
def extend_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    s = _button_session(tx, person, msg, arg, strict=False)
    secs = arg.partition(":")[2]
    if s:
        _reply(tx, msg, person, extend(tx, person, s, int(secs) if secs.isdigit() else EXTENSIONS[0]))


@button("lone.finish", permission="lone_work")
def finish_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    s = _button_session(tx, person, msg, arg, strict=True)
    if s:
        tx.reply(msg, Outbound(finish(tx, person, s)), person=person)


# --- a manager resolves the alert: the session is closed --------------------------------------
def _on_resolve(tx: Tx, alert: escalation.Alert) -> None:
    if alert.kind != "lone" or not alert.ref.isdigit():
        return
    s = load(tx.conn, int(alert.ref))
    if s is None or s.status != "live" or s.stage != "escalated" or s.alert_id != alert.id:
        return  # the worker's own check-in resolved it, or the session moved on
    who = tx.person(alert.resolved_by)
    by = who.name if who else "a manager"
    _end(tx, s, "closed", alert.resolved_by, f"closed when {by} resolved alert #{alert.id}")
    _to_worker(tx, s, Outbound(f"{by} has closed your lone-working session. Start a new one if you are still "
                               "working alone.", priority=Priority.reply))


escalation.RESOLVE_HOOKS.append(_on_resolve)


# --- the person's overview (Slack App Home) ------------------------------------------------------
@home
def lone_home(tx: Tx, person: Person) -> list[str]:
    lines = []
    s = live_session(tx.conn, person.key)
    if s:
        state = "the duty manager has been alerted" if s.stage == "escalated" else _due_text(tx, s)
        lines.append(f"Lone working since {tx.hhmm(s.started_at)}" + (f" ({s.note})" if s.note else "")
                     + f": {state}.")
    if allowed(person, "list_lone_sessions"):
        sessions = [x for x in _visible(tx, person) if x.person != person.key]
        if sessions:
            late = sum(1 for x in sessions if x.stage == "escalated" or tx.now >= x.deadline)
            lines.append(f"Lone workers now: {len(sessions)}" + (f", {late} overdue" if late else "")
                         + " (send sessions for the list).")
    return lines


# --- start-up: warn about a duress phrase a codeword would take ---------------------------------------------
async def check_duress_words(engine) -> None:
    for phrase in engine.book.lone_working.duress_words:
        if engine.ctx.matcher.match(phrase):
            log.warning("duress phrase %r contains a codeword phrase; the codeword wins, so choose another", phrase)


STARTUP_HOOKS.append(check_duress_words)
