"""Reading and reviewing bans in chat: `ban ...`, `bans`, `bans here`. Every read is audited.

Staff see who is excluded from their branch (name, description, until when), never the reasons or
incidents; the full record is for those who may decide bans, at the ban's branches (admins: all).
"""

from __future__ import annotations

import sqlite3

from bot.messages import Inbound, Outbound
from bot.model import Person
from bot.registry import command
from bot.unit import Tx

from . import ban_form
from .bans import (
    DAY,
    INCIDENT_REF,
    KIND_NAMES,
    NOT_FOUND,
    REVIEW_HOW,
    audit,
    ban_today,
    can_read,
    cancel_reviews,
    confirm,
    covers,
    day_end,
    day_start,
    day_text,
    decider_problem,
    end_ban,
    in_force_sql,
    load,
    may_decide,
    parse_day,
    parse_ref,
    private,
    ref,
    schedule_reviews,
    until_text,
    where_name,
)

USAGE = ("ban today <who and what happened>: exclude them from your branch for the rest of today.\n"
         "Duty managers: ban record | ban <BAN-ref> [confirm | lift <reasons> | extend <review date> <reasons> | "
         "end aba <conditions>] | bans")


def render_full(tx: Tx, b: sqlite3.Row) -> str:
    def name(key: str | None) -> str:
        p = tx.person(key)
        return p.name if p else (key or "-")

    lines = [f"{ref(b)}: {KIND_NAMES[b['kind']]} ({b['status']})", f"Who: {b['subject']}"]
    if b["description"] and b["description"] != b["subject"]:
        lines.append(f"Description: {b['description']}")
    lines += [f"Where: {where_name(tx, b)}", f"From {day_text(tx, b['start_at'])} {until_text(tx, b)}"]
    if b["review_at"] and b["end_at"] is not None:  # with no end, the line above gives the review
        lines.append(f"Review: {day_text(tx, b['review_at'])}")
    for label, col in (("Category", "category"), ("Byelaw or policy", "basis"), ("Reasons", "reasons"),
                       ("Account invited", "account_invited"), ("Their account", "account_said"),
                       ("Adjustments considered", "adjustments"), ("Letter", "letter"), ("Appeal route", "appeal"),
                       ("Incidents", "incidents"), ("Acceptable behaviour agreement", "aba")):
        if b[col]:
            lines.append(f"{label}: {b[col]}")
    lines.append(f"Made by {name(b['created_by'])} on {day_text(tx, b['created_at'])}" +
                 (f"; decided by {name(b['decided_by'])}" if b["decided_by"] else "; not yet confirmed"))
    if b["ended_at"] and b["status"] not in ("pending", "active"):
        lines.append(f"{b['status'].capitalize()} on {day_text(tx, b['ended_at'])}")
    if b["anonymised_at"]:
        lines.append(f"Anonymised on {day_text(tx, b['anonymised_at'])} under the retention policy.")
    if b["status"] == "active" and b["review_at"]:
        lines.append(REVIEW_HOW.format(r=ref(b)))
    return "\n".join(lines)


def short(tx: Tx, b: sqlite3.Row) -> str:
    """What staff may see: who, how they will know them, until when. Never reasons or incidents."""
    def bare(text: str) -> str:  # an on-the-spot ban's words may name its incident
        return " ".join(INCIDENT_REF.sub("", text).replace(", see ", " ").split()).rstrip(" ,;")

    desc = f" - {bare(b['description'])}" if b["description"] and b["description"] != b["subject"] else ""
    return f"{ref(b)} {bare(b['subject'])}{desc} ({until_text(tx, b)})"


@command("ban", permission="ban_today", help="exclude someone from your branch today; managers: record and review",
         usage="ban today <who and what happened>")
def ban_cmd(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    word, _, rest = args.strip().partition(" ")
    if word.lower() == "today":
        ban_today(tx, person, msg, rest)
        return
    if word.lower() in ("record", "new"):
        if not may_decide(tx, person):
            tx.reply(msg, Outbound(decider_problem(tx)), person=person)
            return
        ban_form.start(tx, person, msg)
        if msg.is_group:
            tx.reply(msg, Outbound("I've sent you the form privately.", ephemeral=True), person=person)
        return
    bid = parse_ref(word) if word else None
    if bid is None:
        tx.reply(msg, Outbound(USAGE), person=person)
        return
    b = load(tx.conn, bid)
    if b is None or not can_read(tx, person, b):
        tx.reply(msg, Outbound(NOT_FOUND), person=person)
        return
    action, _, text = rest.strip().partition(" ")
    if not action:
        show(tx, person, msg, b)
    elif not may_decide(tx, person):
        tx.reply(msg, Outbound(decider_problem(tx)), person=person)
    else:
        decide(tx, person, msg, b, action.lower(), text.strip())


def show(tx: Tx, person: Person, msg: Inbound, b: sqlite3.Row) -> None:
    audit(tx.conn, tx.now, person.key, b["id"], "view", "full" if may_decide(tx, person) else "short")
    private(tx, person, msg, render_full(tx, b) if may_decide(tx, person) else short(tx, b))


def decide(tx: Tx, person: Person, msg: Inbound, b: sqlite3.Row, action: str, text: str) -> None:
    r = ref(b)
    if action == "confirm":
        if b["status"] != "pending":
            tx.reply(msg, Outbound(f"{r} is {b['status']}; only an on-the-spot ban waits for confirmation."),
                     person=person)
        else:
            confirm(tx, person, msg, b)
        return
    if b["status"] not in ("pending", "active"):
        tx.reply(msg, Outbound(f"{r} is already {b['status']}; nothing was changed."), person=person)
        return
    if action == "lift":
        if not text:
            tx.reply(msg, Outbound(f"Give the reasons: ban {r} lift <reasons>"), person=person)
            return
        end_ban(tx, person.key, b, "lifted", "with reasons", reasons=_add(b["reasons"], f"Lifted: {text}"))
        tx.reply(msg, Outbound(f"{r} lifted."), person=person)
    elif action == "extend":
        day_word, _, why = text.partition(" ")
        d = parse_day(day_word)
        if d is None or d <= tx.local().date() or not why.strip():
            tx.reply(msg, Outbound(f"Give a new review date after today and the reasons: ban {r} extend 2027-06-30"
                                   " <reasons>"), person=person)
            return
        review = day_start(tx.local(), d) + 9 * 3600  # 09:00 that day
        end = b["end_at"] if b["end_at"] is None or b["end_at"] >= review else day_end(tx.local(), d)
        tx.conn.execute("UPDATE bans SET review_at=?, end_at=?, reasons=? WHERE id=?",
                        (review, end, _add(b["reasons"], f"Extended to {d.isoformat()}: {why.strip()}"), b["id"]))
        cancel_reviews(tx, b["id"])
        tx.cancel_wakeups("ban.expire", b["id"])
        schedule_reviews(tx.wake, b["id"], review, tx.now)
        if end is not None:
            tx.wake("ban.expire", b["id"], end)
        audit(tx.conn, tx.now, person.key, b["id"], "extend", f"review {d.isoformat()}")
        tx.reply(msg, Outbound(f"{r} extended; next review {d.strftime('%a %d %b %Y')}."), person=person)
    elif action == "end":
        kind, _, conditions = text.partition(" ")
        if kind.lower() != "aba" or not conditions.strip():
            tx.reply(msg, Outbound(f"End it with an acceptable behaviour agreement: ban {r} end aba <its conditions>"),
                     person=person)
            return
        end_ban(tx, person.key, b, "ended", "with an ABA", aba=conditions.strip()[:2000])
        tx.reply(msg, Outbound(f"{r} ended with an acceptable behaviour agreement: {conditions.strip()}"),
                 person=person)
    else:
        tx.reply(msg, Outbound(USAGE), person=person)


def _add(old: str, line: str) -> str:
    return f"{old}\n{line}" if old else line


@command("bans", permission="read_bans", help="who is excluded from your branch now",
         usage="bans here | bans (managers: reviews due too)")
def bans_cmd(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    word = args.strip().lower()
    if word == "here" and not person.branch:
        tx.reply(msg, Outbound("You have no branch on the roster; send 'bans' to see every ban you may see."),
                 person=person)
        return
    if word == "here" or not may_decide(tx, person):
        rows = [b for b in tx.conn.execute(f"SELECT * FROM bans WHERE {in_force_sql()} ORDER BY start_at",
                                           (tx.now, tx.now)).fetchall() if person.branch and covers(b, person.branch)]
        for b in rows:
            audit(tx.conn, tx.now, person.key, b["id"], "list", "bans here")
        where = tx.directory.branch_name(person.branch)
        text = (f"Excluded from {where} now:\n" + "\n".join(short(tx, b) for b in rows)) if rows else \
            f"Nobody is excluded from {where} now."
        private(tx, person, msg, text)
        return
    rows = [b for b in tx.conn.execute("SELECT * FROM bans WHERE status IN ('pending','active') ORDER BY id")
            if can_read(tx, person, b)]
    for b in rows:
        audit(tx.conn, tx.now, person.key, b["id"], "list", "bans")
    soon = tx.now + 14 * DAY
    lines = [f"{short(tx, b)} [{KIND_NAMES[b['kind']]}, {b['status']}"
             + (", REVIEW OVERDUE" if b["review_at"] and b["review_at"] <= tx.now else
                f", review {day_text(tx, b['review_at'])}" if b["review_at"] and b["review_at"] <= soon else "") + "]"
             for b in rows]
    private(tx, person, msg, ("Bans and warnings in force:\n" + "\n".join(lines)) if lines else
             "No bans or warnings in force that you may see.")





def home_lines(tx: Tx, person: Person) -> list[str]:
    """The overview (Slack App Home): on-the-spot bans to confirm and reviews due, for those who decide."""
    if not may_decide(tx, person):
        return []
    rows = [b for b in tx.conn.execute("SELECT * FROM bans WHERE status IN ('pending','active')")
            if can_read(tx, person, b)]
    pending = [ref(b) for b in rows if b["status"] == "pending"]
    due = [ref(b) for b in rows if b["review_at"] and b["review_at"] <= tx.now + 14 * DAY]
    lines = [f"On-the-spot bans to confirm, change or lift: {', '.join(pending)}."] if pending else []
    if due:
        lines.append(f"Ban reviews due within 14 days or overdue: {', '.join(due)}. Send 'bans'.")
    return lines
