"""Drill mode: `drill on|off [branch]` marks everything raised at a branch as an exercise.

Codeword alerts, backup requests and lockdowns raised there carry [DRILL] on every
message and in every record until `drill off`. Who may start one follows the same
scope rule as lockdown (handlers/lockdown.py: `my_branches`).
"""

from __future__ import annotations

from bot.messages import Inbound, Outbound
from bot.model import Person
from bot.registry import command, drill_check
from bot.unit import Tx

from .lockdown import in_scope, not_yours
from .lockdown_cards import DRILL


@drill_check
def in_drill(tx: Tx, branch: str | None) -> bool:
    return tx.conn.execute("SELECT 1 FROM drills WHERE branch=?", (branch or "",)).fetchone() is not None


# --- drill mode --------------------------------------------------------------------------------
@command("drill", permission="drill", help="practise: mark everything raised at a branch as an exercise",
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
    target = words_[1] if len(words_) > 1 else (person.branch or "")
    branches = d.scope_branches(target) if target else []
    if not branches:
        tx.reply(msg, Outbound("Which branch? Try: drill on " + " | drill on ".join(d.service.branches)),
                 person=person)
        return
    if not in_scope(tx, person, target):
        tx.reply(msg, Outbound(not_yours(tx, person, "start or stop a drill at")), person=person)
        return
    for b in branches:
        if on:
            tx.conn.execute("INSERT INTO drills(branch, since, by) VALUES(?,?,?) ON CONFLICT DO NOTHING", (b, tx.now, person.key))
        else:
            tx.conn.execute("DELETE FROM drills WHERE branch=?", (b,))
    where = ", ".join(d.branch_name(b) for b in branches)
    if on:
        text = (f"{DRILL}Drill mode ON at {where}: everything raised there (codewords, backup, lockdowns) is "
                "marked as an exercise until you say 'drill off'.")
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
