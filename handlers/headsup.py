"""Heads-up to other branches: a short, time-limited "be aware" note to the staff on shift there.

The sector guidance asks for intelligence shared "quickly and legally": the note goes only to
people on shift at the named branches, volunteers see only the "what to do" line, it expires
(default SAFERBOT_HEADSUP_EXPIRY, at most 30 days) and every delivered card is then edited to say
it was withdrawn, so an old description does not linger in chats.
"""

from __future__ import annotations

import sqlite3

from bot.messages import Inbound, Outbound
from bot.model import Person, Role, parse_duration
from bot.permissions import allowed
from bot.registry import command, wakeup
from bot.unit import Tx

from .bans import DAY

LONGEST = 30 * DAY
USAGE = ("headsup <branches> <description> / <what to do> [/ 7d]\n"
         "For example: headsup riverside,central Man in a green parka asking for staff by name / Do not engage;"
         " call the duty manager / 7d")


def _card(hid: int, volunteer: bool = False) -> str:
    return f"headsup:{hid}" + (":v" if volunteer else "")


def render(tx: Tx, h: sqlite3.Row, volunteer: bool = False) -> Outbound:
    places = ", ".join(tx.directory.branch_name(b) for b in h["branches"].split(","))
    if h["status"] != "live":
        return Outbound(f"Heads-up for {places} from {tx.local(h['created_at']).strftime('%d %b')}: expired and "
                        "withdrawn.")
    until = tx.local(h["expires_at"]).strftime("%a %d %b")
    lines = [f"HEADS-UP for {places} (until {until})"]
    if not volunteer:
        sender = tx.person(h["created_by"])
        lines.append(f"Be aware: {h['description']}")
        lines.append(f"What to do: {h['todo']}")
        lines.append(f"From {sender.name if sender else 'a manager'}.")
    else:
        lines.append(f"What to do: {h['todo']}")
    return Outbound("\n".join(lines))


def refresh(tx: Tx, hid: int) -> sqlite3.Row:
    h = tx.conn.execute("SELECT * FROM headsups WHERE id=?", (hid,)).fetchone()
    tx.set_card(_card(hid), render(tx, h))
    tx.set_card(_card(hid, True), render(tx, h, volunteer=True))
    return h


def _scope_and_description(head: str) -> tuple[str, str]:
    """'central, riverside Man in a parka' -> ('central,riverside', 'Man in a parka'): the branch list runs on
    while a word ends with a comma or the next starts with one, as people type lists."""
    words = head.split()
    taken = words[:1]
    while len(taken) < len(words) and (taken[-1].endswith(",") or words[len(taken)].startswith(",")):
        taken.append(words[len(taken)])
    return "".join(taken), " ".join(words[len(taken):])


def parse(tx: Tx, args: str) -> tuple[list[str], str, str, int] | str:
    """(branches, description, what to do, seconds) or the problem, in words."""
    head, slash, rest = args.partition("/")
    if not slash:
        return USAGE
    parts = [p.strip() for p in rest.split("/")]
    lasts = parse_duration(tx.ctx.settings.headsup_expiry)
    if len(parts) > 1:
        try:
            lasts = parse_duration(parts[-1])
            parts = parts[:-1]
        except ValueError:
            pass
    todo = " / ".join(parts).strip()
    scope, description = _scope_and_description(head)
    branches = [k for s in scope.split(",") if s for k in tx.directory.scope_branches(s)]
    bad = [s for s in scope.split(",") if s and not tx.directory.scope_branches(s)]
    if bad or not branches:
        return f"{', '.join(bad) or scope or 'That'} is not a branch or area. " + USAGE
    if not description.strip() or not todo:
        return USAGE
    if not 0 < lasts <= LONGEST:
        return "A heads-up lasts at most 30 days (30d)."
    return list(dict.fromkeys(branches)), description.strip()[:1000], todo[:500], lasts


@command("headsup", "heads-up", permission="send_headsup", help="be-aware note to staff on shift at other branches",
         usage="headsup <branches> <description> / <what to do> [/ 7d]")
def headsup(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    parsed = parse(tx, args)
    if isinstance(parsed, str):
        tx.reply(msg, Outbound(parsed), person=person)
        return
    branches, description, todo, lasts = parsed
    hid = tx.conn.execute(
        "INSERT INTO headsups(created_by, created_at, branches, description, todo, expires_at) VALUES(?,?,?,?,?,?)"
        " RETURNING id", (person.key, tx.now, ",".join(branches), description, todo, tx.now + lasts)).fetchone()[0]
    h = refresh(tx, hid)
    sent = 0
    for key in dict.fromkeys(k for b in branches for k in tx.directory.on_shift(tx.conn, b)):
        p = tx.person(key)
        if p is None or p.key == person.key:
            continue
        volunteer = p.role == Role.volunteer or not allowed(p, "read_bans")
        if tx.send(p, Outbound("", card=_card(hid, volunteer)), tag="headsup"):
            sent += 1
    tx.wake("headsup.expire", hid, h["expires_at"])
    tx.reply(msg, Outbound(f"Heads-up #{hid} sent to {sent} on shift; it is withdrawn on "
                           f"{tx.local(h['expires_at']).strftime('%a %d %b %H:%M')}."), person=person)


@wakeup("headsup.expire")
def expire(tx: Tx, arg: str) -> None:
    """Withdraw every copy: each delivered card is edited to say it expired."""
    changed = tx.conn.execute("UPDATE headsups SET status='withdrawn', withdrawn_at=? WHERE id=? AND status='live'",
                              (tx.now, int(arg))).rowcount
    if changed:
        refresh(tx, int(arg))
