"""Drill mode: `drill on|off [branch]` marks everything raised at a branch as an exercise.

Codeword alerts, backup requests and lockdowns raised there carry [DRILL] on every
message and in every record until `drill off`. Who may start one follows the same
scope rule as lockdown (handlers/lockdown.py: `my_branches`).
"""

from __future__ import annotations

from bot.messages import Button, Inbound, Outbound
from bot.model import Person
from bot.registry import button, command, drill_check
from bot.unit import Tx

from .lockdown import active_lockdowns, in_scope, not_yours
from .lockdown_cards import DRILL, _title, scope_name

CONFIRM = "drill.confirm"


@drill_check
def in_drill(tx: Tx, branch: str | None) -> bool:
    return tx.conn.execute("SELECT 1 FROM drills WHERE branch=?", (branch or "",)).fetchone() is not None


# --- drill mode --------------------------------------------------------------------------------
@command("drill", permission="drill", help="practise: mark what is raised at a branch from now on as an exercise (areas, all: admins)",
         usage="drill on|off [branch|all]")
def drill(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    words_ = args.lower().split()
    d = tx.directory
    if not words_ or words_[0] not in ("on", "off"):
        rows = tx.conn.execute("SELECT branch, since, by FROM drills ORDER BY branch").fetchall()
        if not rows:
            text = "No branch is in drill mode. Say 'drill on' to start an exercise at your branch."
        else:
            text = "In drill mode: " + "; ".join(f"{d.branch_name(r[0])} since {tx.hhmm(r[1])}" for r in rows)
        tx.reply(msg, Outbound(text), person=person)
        return
    on = words_[0] == "on"
    confirmed = "confirm" in words_[1:]
    words_ = [w for w in words_ if w != "confirm"]
    target = words_[1] if len(words_) > 1 else (person.branch or "")
    branches = d.scope_branches(target) if target else []
    if not branches:
        tx.reply(msg, Outbound("Which branch? Try: drill on " + " | drill on ".join(d.service.branches)),
                 person=person)
        return
    if not in_scope(tx, person, target):
        tx.reply(msg, Outbound(not_yours(tx, person, "start or stop a drill at")), person=person)
        return
    real = _real_events(tx, branches) if on else []
    if real and not confirmed:
        tx.reply(msg, Outbound(
            f"A real {real[0][0]} is live at {real[0][1]}. It stays real whatever you choose: a drill marks only what is "
            "raised from now on as an exercise, and people may mistake real messages for practice. "
            f"Say 'drill on {words_[1] + ' ' if len(words_) > 1 else ''}confirm' to start the drill anyway.",
            buttons=(Button("Start the drill anyway", CONFIRM, target),)), person=person)
        return
    for b in branches:
        if on:
            tx.conn.execute("INSERT INTO drills(branch, since, by) VALUES(?,?,?) ON CONFLICT DO NOTHING", (b, tx.now, person.key))
        else:
            tx.conn.execute("DELETE FROM drills WHERE branch=?", (b,))
    where = ", ".join(d.branch_name(b) for b in branches)
    if on:
        text = (f"{DRILL}Drill mode ON at {where}: everything raised there from now on (codewords, backup, "
                "lockdowns, lone-working sessions) is marked as an exercise until you say 'drill off'; what is "
                "already running keeps what it was."
                + "".join(f" The real {t} at {where} stays real." for t, where in real))
    else:
        text = f"Drill mode OFF at {where}: everything raised there is real again."
    tx.reply(msg, Outbound(text), person=person)
    note = (f"{DRILL}An exercise has started at {where}: messages marked [DRILL] are practice."
            if on else f"The exercise at {where} is over: everything from now on is real.")
    told = set()
    for b in branches:
        for k in d.on_shift(tx.conn, b, tx.local()):
            p = d.person(k)
            if p and k != person.key and k not in told:
                told.add(k)
                tx.send(p, Outbound(note))


def _real_events(tx: Tx, branches: list[str]) -> list[tuple[str, str]]:
    """Live real lockdowns and evacuations touching these branches: ('EVACUATION', 'the north area (since 14:30)')."""
    d = tx.directory
    return [(_title(ld), f"{scope_name(tx, ld['scope'])} (since {tx.hhmm(ld['created_at'])})")
            for ld in active_lockdowns(tx) if not ld["drill"] and set(d.scope_branches(ld["scope"])) & set(branches)]


@button(CONFIRM, permission="drill")
def confirm(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    """'Start the drill anyway' under the warning that a real lockdown or evacuation is live."""
    drill(tx, person, msg, f"on {arg} confirm")
