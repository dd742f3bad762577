"""Lockdown, evacuation, roll call and all clear (cards: lockdown_cards.py; drill mode: drill.py).

`lockdown <branch|area|all> <message>` (or `evacuate ...`) from a duty manager or
admin: everyone on shift in scope, and the duty managers there, get the message with
I'm safe / I need help. The sender's roll-call card updates as answers arrive.
"I need help" raises a high alert through the ladder; anyone who has not answered
after `rollcall_wait` is escalated (one alert per branch naming them). `all clear`
ends it and tells everyone.

Scope is one rule (`my_branches`): a duty manager acts on the branches they manage or
cover today; `all` and areas are an admin's. Lockdown and evacuation also tell every duty
manager of the branch and the admins (an information copy; they are not in the roll call).
"""

from __future__ import annotations

import sqlite3

from bot import escalation, words
from bot.messages import Button, Inbound, Outbound
from bot.model import Person, Priority, Role, Severity, parse_duration
from bot.permissions import allowed
from bot.registry import button, command, home, wakeup
from bot.unit import Tx

from .lockdown_cards import (
    DRILL,
    _card,
    _info_card,
    _names,
    _rollcall_card,
    _title,
    load,
    refresh,
    rollcall_rows,
    scope_name,
)

WAIT = "lockdown.wait"
ALERT_KINDS = {"lockdown": "lockdown alert(s)"}  # what a count of this capability's alerts is called
DEFAULTS = {
    "lockdown": "Lockdown: stay inside, lock or block the doors, keep away from windows and stay quiet. "
                "Do not leave until the all clear.",
    "evacuate": "Evacuate now: leave by the nearest safe exit, take the public with you and go to the "
                "assembly point. Do not go back in until the all clear.",
}


# --- scope: the one rule for lockdown, evacuate, all clear and drill ---------------------------------
def my_branches(tx: Tx, person: Person) -> set[str] | None:
    """Branches a person may lock down, evacuate, clear or drill; None means every branch (admins).

    A duty manager: their own branch, and any branch they are duty manager for or covering now.
    `all` and areas are for admins.
    """
    if person.role == Role.admin:
        return None
    d = tx.directory
    mine = {person.branch} if person.branch else set()
    for b in d.service.branches:
        if person.key in d.duty_managers(tx.conn, b, tx.local()):
            mine.add(b)
    return mine


def in_scope(tx: Tx, person: Person, scope: str) -> bool:
    mine = my_branches(tx, person)
    return mine is None or scope in mine


def not_yours(tx: Tx, person: Person, what: str) -> str:
    mine = my_branches(tx, person) or set()
    names = " or ".join(tx.directory.branch_name(b) for b in sorted(mine)) or "no branch"
    return (f"You can {what} {names} (your branches today); all branches and areas are for an admin. "
            f"Phone the duty manager there, or an admin.")


# --- starting ------------------------------------------------------------------------------------
def start(tx: Tx, person: Person, msg: Inbound, kind: str, args: str) -> None:
    d = tx.directory
    scope, _, message = args.strip().partition(" ")
    scope = scope.lower()
    branches = d.scope_branches(scope) if scope else []
    if branches and not in_scope(tx, person, scope):
        tx.reply(msg, Outbound(not_yours(tx, person, f"{kind} at")), person=person)
        return
    if not branches:
        areas = sorted({b.area for b in d.service.branches.values() if b.area})
        choices = " | ".join([*d.service.branches, *areas, "all"])
        tx.reply(msg, Outbound(f"Say where first: {kind} <{choices}> <message>\n"
                               f"e.g. {kind} {person.branch or next(iter(d.service.branches))} "
                               "intruder near the children's library"), person=person)
        return
    message = message.strip() or DEFAULTS[kind]
    drill = all(escalation.is_drill(tx, b) for b in branches)
    cur = tx.conn.execute("INSERT INTO lockdowns(kind, scope, message, by, drill, created_at) VALUES(?,?,?,?,?,?)",
                          (kind, scope, message, person.key, int(drill), tx.now))
    lid = int(cur.lastrowid or 0)
    when = tx.local()
    people: dict[str, str | None] = {}
    for b in branches:
        for k in d.on_shift(tx.conn, b, when) + d.duty_managers(tx.conn, b, when):
            people.setdefault(k, b)
    if scope == "all":
        for k in d.on_shift(tx.conn, None, when):
            people.setdefault(k, None)
    people.pop(person.key, None)
    informed = [p for b in branches for p in d.with_role(Role.duty_manager, b) if p.branch == b]
    informed += [p for p in d.people.values() if p.role == Role.admin]
    for key, branch in people.items():
        p = d.person(key)
        if p and allowed(p, "answer_rollcall"):
            tx.conn.execute("INSERT INTO rollcall(lockdown_id, person, branch) VALUES(?,?,?)"
                            " ON CONFLICT DO NOTHING",
                            (lid, key, branch or p.branch))  # where they were found for this lockdown
    ld = refresh(tx, lid)
    unreachable = []
    for r in rollcall_rows(tx.conn, lid):
        p = d.person(r["person"])
        if p is None or not tx.send(p, Outbound("", card=_card(lid), priority=Priority.alarm), tag="lockdown"):
            unreachable.append(r["person"])
    told = []
    for p in dict.fromkeys(informed):  # every duty manager of the branch and the admins, not in the roll call
        if p.key not in people and p.key != person.key and tx.send(
                p, Outbound("", card=_info_card(lid), priority=Priority.alarm), tag="lockdown"):
            told.append(p.key)
    tx.reply(msg, Outbound("", card=_rollcall_card(lid), priority=Priority.alarm), person=person, tag="rollcall")
    wait = parse_duration(tx.ctx.settings.rollcall_wait)
    note = (f"Sent to {len(people)} on shift. Anyone who has not answered in {words.duration(wait)} is escalated."
            + (f" Also told: {_names(tx, told)}." if told else ""))
    if unreachable:
        note += f" Could not reach: {_names(tx, unreachable)} - please check on them."
    tx.reply(msg, Outbound((DRILL if ld["drill"] else "") + note), person=person)
    tx.wake(WAIT, lid, tx.now + wait)


@command("lockdown", permission="lockdown", help="lock down a branch with a roll call (an area or all branches: admins only)",
         usage="lockdown <branch|area|all> <message>", urgent=True)
def lockdown(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    start(tx, person, msg, "lockdown", args)


@command("evacuate", "evacuation", "evac", permission="lockdown", help="evacuate a branch with a roll call (an area or"
         " all branches: admins only)", usage="evacuate <branch|area|all> <message>", urgent=True)
def evacuate(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    start(tx, person, msg, "evacuate", args)


# --- answers -------------------------------------------------------------------------------------
def _row(tx: Tx, lid: int, person: Person) -> sqlite3.Row | None:
    return tx.conn.execute("SELECT * FROM rollcall WHERE lockdown_id=? AND person=?", (lid, person.key)).fetchone()


def answer(tx: Tx, person: Person, msg: Inbound, ld: sqlite3.Row, ans: str) -> None:
    row = _row(tx, ld["id"], person)
    if row is None:  # not asked (came on shift later): count them in
        tx.conn.execute("INSERT INTO rollcall(lockdown_id, person, branch) VALUES(?,?,?)",
                        (ld["id"], person.key, person.branch))
        row = _row(tx, ld["id"], person)
    assert row is not None
    mark = DRILL if ld["drill"] else ""
    old_alert = escalation.load(tx.conn, row["alert_id"]) if row["alert_id"] else None  # their help alert
    tx.conn.execute("UPDATE rollcall SET answer=?, at=? WHERE lockdown_id=? AND person=?",
                    (ans, tx.now, ld["id"], person.key))
    if ans == "help":
        if old_alert is None or old_alert.status == "resolved":
            alert = escalation.raise_alert(
                tx, kind="lockdown", ref=f"{ld['id']}:{person.key}", severity=Severity.high, ladder=_ladder(tx),
                title=f"Needs help during the {_title(ld).lower()}", person=person, branch=row["branch"],
                details=f"{_title(ld)} ({scope_name(tx, ld['scope'])}): {ld['message']}",
                ack_reply=mark + "Help is coming to you.", reply_to=(msg.platform, msg.chat_id), drill=bool(ld["drill"]))
            tx.conn.execute("UPDATE rollcall SET alert_id=? WHERE lockdown_id=? AND person=?",
                            (alert.id, ld["id"], person.key))
        tx.reply(msg, Outbound(mark + "Help is being sent to you now. Stay as safe as you can; "
                               "call 999 if you are in danger.", priority=Priority.alarm), person=person)
    else:
        if old_alert and old_alert.status != "resolved":
            escalation.resolve(tx, old_alert.id, person, "said they are safe now")
        tx.reply(msg, Outbound(mark + "Thank you - you are marked safe. Stay put until the all clear."
                               if ld["kind"] == "lockdown" else mark + "Thank you - you are marked safe. "
                               "Stay at the assembly point until the all clear."), person=person)
    _settle_no_answer_alerts(tx, ld["id"])
    refresh(tx, ld["id"])


def _settle_no_answer_alerts(tx: Tx, lid: int) -> None:
    """A no-answer alert whose people have all answered since is resolved."""
    rows = rollcall_rows(tx.conn, lid)
    for alert_id in {r["noanswer_alert"] for r in rows if r["noanswer_alert"]}:
        alert = escalation.load(tx.conn, alert_id)
        if alert is None or alert.status == "resolved":
            continue
        named = [r for r in rows if r["noanswer_alert"] == alert_id]
        if all(r["answer"] for r in named):
            escalation.resolve(tx, alert_id, None, "everyone named has answered the roll call")


def _ladder(tx: Tx):
    ladders = tx.book.ladders
    return ladders.get(tx.ctx.settings.lockdown_ladder) or next(iter(ladders.values()))


def _active(tx: Tx, arg: str, person: Person, msg: Inbound) -> sqlite3.Row | None:
    ld = load(tx.conn, n) if (n := words.number(arg)) is not None else None
    if ld is None:
        tx.reply(msg, Outbound("That button has expired."), person=person)
        return None
    if ld["status"] != "active":
        tx.reply(msg, Outbound(f"The all clear has been given for that {ld['kind']}."), person=person)
        return None
    return ld


@button("lockdown.safe", permission="answer_rollcall")
def safe_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    ld = _active(tx, arg, person, msg)
    if ld:
        answer(tx, person, msg, ld, "safe")


@button("lockdown.help", permission="answer_rollcall")
def help_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    ld = _active(tx, arg, person, msg)
    if ld:
        answer(tx, person, msg, ld, "help")


def asked_in(tx: Tx, person: Person) -> list[sqlite3.Row]:
    """Live lockdowns whose roll call asks this person, newest first."""
    return tx.conn.execute("SELECT l.* FROM lockdowns l JOIN rollcall r ON r.lockdown_id=l.id WHERE l.status='active'"
                           " AND r.person=? ORDER BY l.id DESC", (person.key,)).fetchall()


def answer_typed(tx: Tx, person: Person, msg: Inbound, ans: str) -> bool:
    """A typed roll-call answer ('safe' or 'help') from someone the roll call asks."""
    asked = asked_in(tx, person)
    if not asked or not allowed(person, "answer_rollcall"):
        return False
    answer(tx, person, msg, asked[0], ans)
    return True


# --- no answer -----------------------------------------------------------------------------------
@wakeup(WAIT)
def no_answer(tx: Tx, ref: str) -> None:
    ld = load(tx.conn, int(ref))
    if ld is None or ld["status"] != "active":
        return
    silent = [r for r in rollcall_rows(tx.conn, ld["id"]) if r["answer"] is None and not r["noanswer_alert"]]
    by_branch: dict[str | None, list[str]] = {}
    for r in silent:
        by_branch.setdefault(r["branch"], []).append(r["person"])
    wait = words.duration(parse_duration(tx.ctx.settings.rollcall_wait))
    mark = DRILL if ld["drill"] else ""
    nudge = tx.ctx.settings.rollcall_nudge != "quiet"
    for branch, keys in by_branch.items():
        alert = escalation.raise_alert(  # about them: it never goes to them, and they cannot resolve it
            tx, kind="lockdown", ref=f"{ld['id']}:noanswer", severity=Severity.high, ladder=_ladder(tx),
            title=f"No answer to the {_title(ld).lower()} roll call: {_names(tx, keys)}", person=None, branch=branch,
            details=f"Not answered within {wait} of the {_title(ld).lower()} at "
                    f"{tx.hhmm(ld['created_at'])}. Please check on them.", drill=bool(ld["drill"]),
            about=tuple(keys))
        for k in keys:
            tx.conn.execute("UPDATE rollcall SET noanswer_alert=? WHERE lockdown_id=? AND person=?",
                            (alert.id, ld["id"], k))
            p = tx.person(k)
            if p and nudge:  # ask them again, once (SAFERBOT_ROLLCALL_NUDGE=quiet: never)
                tx.send(p, Outbound(mark + f"{_title(ld)}: we have not heard from you. Are you safe?",
                                    priority=Priority.alarm, buttons=(
                                        Button("I'm safe", "lockdown.safe", str(ld["id"])),
                                        Button("I need help", "lockdown.help", str(ld["id"])))), tag="lockdown")
    refresh(tx, ld["id"])


# --- all clear -----------------------------------------------------------------------------------
def active_lockdowns(tx: Tx) -> list[sqlite3.Row]:
    return tx.conn.execute("SELECT * FROM lockdowns WHERE status='active' ORDER BY id").fetchall()


def end(tx: Tx, ld: sqlite3.Row, person: Person) -> None:
    tx.conn.execute("UPDATE lockdowns SET status='ended', ended_at=?, ended_by=? WHERE id=?",
                    (tx.now, person.key, ld["id"]))
    tx.cancel_wakeups(WAIT, ld["id"])
    ld = refresh(tx, ld["id"])
    mark = DRILL if ld["drill"] else ""
    text = (f"{mark}ALL CLEAR - {scope_name(tx, ld['scope'])}: the {ld['kind'] if ld['kind'] == 'lockdown' else 'evacuation'}"
            f" is over ({person.name}, {tx.hhmm(tx.now)}). Thank you.")
    for r in rollcall_rows(tx.conn, ld["id"]):
        p = tx.person(r["person"])
        if p:
            tx.send(p, Outbound(text, priority=Priority.alarm), tag="allclear")


@command("allclear", permission="lockdown", help="end a lockdown or evacuation and tell everyone",
         usage="all clear [branch|area|all]", urgent=True)
def all_clear(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    """End what the sender may end: the named scope, or without one every live lockdown in their branches."""
    arg = args.strip().lower()
    live = [ld for ld in active_lockdowns(tx) if not arg or ld["scope"] == arg]
    if not live:
        tx.reply(msg, Outbound("There is no lockdown or evacuation going on" + (f" for {arg}." if arg else ".")),
                 person=person)
        return
    mine = my_branches(tx, person)
    ours = [ld for ld in live if mine is None or ld["scope"] in mine]
    others = [ld for ld in live if ld not in ours]
    lines = []
    for ld in ours:
        end(tx, ld, person)
        ld = load(tx.conn, ld["id"])
        assert ld is not None
        rows = rollcall_rows(tx.conn, ld["id"])
        helpme = [r["person"] for r in rows if r["answer"] == "help"]
        silent = [r["person"] for r in rows if r["answer"] is None]
        line = f"All clear sent for the {ld['kind']} at {scope_name(tx, ld['scope'])}."
        if helpme:
            line += f" Still to check: {_names(tx, helpme)} asked for help (their alerts stay open)."
        if silent:
            line += f" Never answered: {_names(tx, silent)}."
        lines.append((DRILL if ld["drill"] else "") + line)
    for ld in others:
        lines.append(f"Not ended: the {ld['kind']} at {scope_name(tx, ld['scope'])} (from "
                     f"{_names(tx, [ld['by']]) or ld['by']}) is not in your branches; its manager or an admin ends it.")
    tx.reply(msg, Outbound("\n".join(lines)), person=person)


@button("lockdown.clear", permission="lockdown")
def clear_button(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    ld = _active(tx, arg, person, msg)
    if ld:
        all_clear(tx, person, msg, ld["scope"])


@command("rollcall", permission="lockdown", help="the live roll call of a lockdown or evacuation", usage="rollcall")
def rollcall(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    """Scoped like `all clear`: the names of who has not answered are for the managers of that scope."""
    live = active_lockdowns(tx)
    if not live:
        tx.reply(msg, Outbound("There is no lockdown or evacuation going on."), person=person)
        return
    mine = my_branches(tx, person)
    for ld in live:
        if mine is None or ld["scope"] in mine:
            tx.reply(msg, Outbound("", card=_rollcall_card(ld["id"]), priority=Priority.alarm), person=person,
                     tag="rollcall")
        else:
            tx.reply(msg, Outbound(f"A {ld['kind'] if ld['kind'] == 'lockdown' else 'evacuation'} is going on at "
                                   f"{scope_name(tx, ld['scope'])}; it is not in your branches, so its roll call "
                                   "is for its manager or an admin."), person=person)


@home
def lockdown_home(tx: Tx, person: Person) -> list[str]:
    lines = []
    for ld in active_lockdowns(tx):
        row = _row(tx, ld["id"], person)
        if row is None and ld["by"] != person.key:
            continue
        state = {"safe": "you said you are safe", "help": "you asked for help"}.get(
            row["answer"] if row else "", "please answer: are you safe?" if row else "you started it")
        lines.append(f"{DRILL if ld['drill'] else ''}{_title(ld)} at {scope_name(tx, ld['scope'])} since "
                     f"{tx.hhmm(ld['created_at'])}: {state}.")
    return lines
