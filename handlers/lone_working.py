"""Lone working in chat: the words, buttons and conversations of a lone-working session.

Words (any platform, the session belongs to the person, not the chat):
  lone 45m home visit, 12 High St | lone until 18:30 closing up | lone closing (a preset)
  lone every 30m for 3h mobile library | lone list | sessions
  checkin / safe / ok / "I'm safe" | extend 15m | finish / done | status
A check-in is proof of life: it records the time and, after an escalation, resolves the
alert and tells everyone who was notified. In a one-deadline session a check-in inside
the reminder window (or later) also ends the session; earlier it is just recorded.

The session itself (state, reminder, "Are you OK?", escalation) is in handlers/lone_session.py.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from bot import escalation, words
from bot.messages import Inbound, Outbound
from bot.model import Person, Priority, Role
from bot.permissions import allowed
from bot.registry import button, command, home, reads
from bot.router import NOT_ALLOWED
from bot.unit import Tx

from .lone_session import (
    EXTENSIONS,
    MAX_EXTEND,
    MAX_SESSION,
    NO_SESSION,
    USAGE,
    LoneEvent,
    Session,
    _due_text,
    _end,
    _reply,
    _to_worker,
    checkin,
    duress,
    extend,
    finish,
    human,
    is_duress,
    live_session,
    live_sessions,
    load,
    open_session,
    parse_clock,
    status_text,
    take_duration,
)

log = logging.getLogger(__name__)
ALERT_KINDS = {"lone": "missed lone-working check-in(s)"}  # what a count of this capability's alerts is called


def status_lines(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """`saferbot status` (read only): how many sessions are live."""
    n = conn.execute("SELECT COUNT(*) FROM lone_sessions WHERE status=?", ("live",)).fetchone()[0]
    return [("lone working", f"{n} live session(s)")]


# --- commands -------------------------------------------------------------------------------
def _words(*names: str, help: str = "", usage: str = "") -> Callable:
    """Register a lone-working command; the handler gets the person's live session (or None)."""

    def register(fn: Callable) -> Callable:
        def handler(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
            fn(tx, person, msg, args, live_session(tx.conn, person.key))

        handler.__module__, handler.__name__ = fn.__module__, fn.__name__
        command(*names, permission="lone_work", help=help, usage=usage, urgent=True, via=handler)(fn)
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
    period = every or seconds
    # say only what will happen: no reminder fits in a period no longer than the reminder lead
    remind = (f"I'll remind you {human(lead)} before" + (" each" if every else "") + "." if lead < period else
              f"That is too short for a reminder: if I have not heard from you by {tx.hhmm(s.deadline)}, "
              "I'll ask if you are OK.")
    if every:
        return (f"Lone working started at {tx.hhmm(tx.now)}{about}.\nCheck in every {human(every)} until "
                f"{tx.hhmm(s.ends_at)}; the first check-in is due {tx.hhmm(s.deadline)}. {remind}"
                "\nSend safe to check in, extend 15m for more time, finish when done.")
    return (f"Lone working started at {tx.hhmm(tx.now)}{about}.\nCheck in by {tx.hhmm(s.deadline)} "
            f"(in {human(seconds)}). {remind}\n"
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


@command("sessions", "lone-list", permission="list_lone_sessions", help="live lone-working sessions at your branch",
         usage="sessions")
def sessions_command(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    list_sessions(tx, person, msg, args)


# --- typed words while a session is live (SAFETY readers, wired in bot/compose.py) ---------------
SESSION_WORDS = ("checkin", "extend", "finish", "finished", "status")


@reads(phrases=words.DONE | frozenset(SESSION_WORDS))
def session_words(tx: Tx, person: Person, msg: Inbound) -> bool:
    """With a live session, its words (check in, extend 15m, finish, status, done) win over an open
    form or conversation: a tired worker's "finish" must never become a form answer."""
    if not msg.text.strip():
        return False
    s = live_session(tx.conn, person.key)
    if s is None:
        return False
    if words.normalise(msg.text) in words.DONE:
        tx.reply(msg, Outbound(finish(tx, person, s)), person=person)
        return True
    word, rest = words.split_command(msg.text, SESSION_WORDS)
    if not word:
        return False
    tx.app.commands[word].fn(tx, person, msg, rest)
    return True


def check_in_typed(tx: Tx, person: Person, msg: Inbound) -> bool:
    """'I'm safe' (and the other proof-of-life words) from someone with a live session: a check-in."""
    s = live_session(tx.conn, person.key)
    if s is None:
        return False
    _reply(tx, msg, person, checkin(tx, person, s))
    return True


@reads()  # its phrases are the book's duress words
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


# --- buttons ---------------------------------------------------------------------------------
def _button_session(tx: Tx, person: Person, msg: Inbound, arg: str, strict: bool) -> Session | None:
    """The pressed session if it is this person's and live; a proof-of-life press also counts for their
    current session (an old reminder's I'm safe); Finish only ever ends the session it was shown for."""
    sid = words.number(arg.split(":", 1)[0])
    s = load(tx.conn, sid) if sid is not None else None
    if s is not None and s.person == person.key and s.status == "live":
        return s
    current = live_session(tx.conn, person.key)
    if current is not None and not strict:
        return current
    if s is None or s.person != person.key:
        tx.reply(msg, Outbound(NO_SESSION if current is None else "That button is not one of your sessions."),
                 person=person)
        return None
    text = f"That button was for your lone-working session {_named(tx, s)}, which has already finished."
    if current is None:
        tx.reply(msg, Outbound(text + " You have no session running now."), person=person)
        return None
    _reply(tx, msg, person, f"{text}\nYour session {_named(tx, current)} is still running: {_due_text(tx, current)}."
           " Use the buttons below (or send finish) for that one.", current)
    return None


def _named(tx: Tx, s: Session) -> str:
    """'started 14:30 (closing up)': how a worker tells two of their sessions apart."""
    return f"started {tx.hhmm(s.started_at)}" + (f" ({s.note})" if s.note else "")


@button("lone.checkin", permission="lone_work")
def checkin_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    s = _button_session(tx, person, msg, arg, strict=False)
    if s:
        _reply(tx, msg, person, checkin(tx, person, s))


@button("lone.extend", permission="lone_work")
def extend_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    s = _button_session(tx, person, msg, arg, strict=False)
    secs = words.number(arg.partition(":")[2])
    if s:
        _reply(tx, msg, person, extend(tx, person, s, min(secs, MAX_EXTEND) if secs else EXTENSIONS[0]))


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
    _end(tx, s, LoneEvent.CLOSED, alert.resolved_by, f"closed when {by} resolved alert #{alert.id}")
    _to_worker(tx, s, Outbound(f"{by} has closed your lone-working session. Start a new one if you are still "
                               "working alone.", priority=Priority.reply))




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


