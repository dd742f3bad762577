"""Lockdown cards: what everyone in scope sees, and the sender's live roll call.

Rendered from the store every time something changes (`refresh`), so every copy on
every platform shows the same state.
"""

from __future__ import annotations

import sqlite3

from bot.messages import DRILL, Button, Outbound
from bot.model import Priority
from bot.unit import Tx


def load(conn: sqlite3.Connection, lid: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM lockdowns WHERE id=?", (lid,)).fetchone()


def _card(lid: int) -> str:
    return f"lockdown:{lid}"


def _rollcall_card(lid: int) -> str:
    return f"rollcall:{lid}"


def _info_card(lid: int) -> str:
    return f"lockdown:{lid}:info"


def scope_name(tx: Tx, scope: str) -> str:
    if scope == "all":
        return "all branches"
    if scope in tx.directory.service.branches:
        return tx.directory.branch_name(scope)
    return f"the {scope} area"


def _title(ld: sqlite3.Row) -> str:
    return "EVACUATION" if ld["kind"] == "evacuate" else "LOCKDOWN"


def _names(tx: Tx, keys: list[str]) -> str:
    return ", ".join(p.name for k in keys if (p := tx.person(k)))


# --- rendering -----------------------------------------------------------------------------------
def render(tx: Tx, ld: sqlite3.Row, info: bool = False) -> Outbound:
    """The card everyone in scope sees; `info`: the copy for managers and admins not in the roll call."""
    mark = DRILL if ld["drill"] else ""
    sender = tx.person(ld["by"])
    lines = [f"{mark}{_title(ld)} - {scope_name(tx, ld['scope'])}"]
    if ld["drill"]:
        lines.append("This is an exercise.")
    lines.append(ld["message"])
    lines.append(f"From {sender.name if sender else ld['by']} at {tx.hhmm(ld['created_at'])}.")
    if ld["status"] != "active":
        ender = tx.person(ld["ended_by"])
        lines.append(f"ALL CLEAR at {tx.hhmm(ld['ended_at'] or tx.now)} from {ender.name if ender else 'a manager'}.")
        return Outbound("\n".join(lines), priority=Priority.alarm)
    if info:
        lines.append("You are told as a duty manager or admin; you are not in the roll call.")
        return Outbound("\n".join(lines), priority=Priority.alarm)
    lines.append("Tell us now: are you safe?")
    return Outbound("\n".join(lines), priority=Priority.alarm, buttons=(
        Button("I'm safe", "lockdown.safe", str(ld["id"])), Button("I need help", "lockdown.help", str(ld["id"]))))


def rollcall_rows(conn: sqlite3.Connection, lid: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM rollcall WHERE lockdown_id=? ORDER BY rowid", (lid,)).fetchall()


def render_rollcall(tx: Tx, ld: sqlite3.Row) -> Outbound:
    """The sender's live roll call: safe, need help, no answer."""
    rows = rollcall_rows(tx.conn, ld["id"])
    safe = [r["person"] for r in rows if r["answer"] == "safe"]
    helpme = [r for r in rows if r["answer"] == "help"]
    silent = [r for r in rows if r["answer"] is None]
    mark = DRILL if ld["drill"] else ""
    lines = [f"{mark}Roll call - {_title(ld)}, {scope_name(tx, ld['scope'])} (from {tx.hhmm(ld['created_at'])})"]
    lines.append(f"Safe ({len(safe)}): {_names(tx, safe) or '-'}")
    lines.append(f"Need help ({len(helpme)}): " + (", ".join(
        f"{_names(tx, [r['person']])}" + (f" (alert #{r['alert_id']})" if r["alert_id"] else "") for r in helpme)
        or "-"))
    escalated = [r for r in silent if r["noanswer_alert"]]
    lines.append(f"No answer ({len(silent)}): {_names(tx, [r['person'] for r in silent]) or '-'}"
                 + (" - escalated" if escalated else ""))
    if not rows:
        lines.append("Nobody was on shift in scope to ask.")
    if ld["status"] != "active":
        ender = tx.person(ld["ended_by"])
        lines.append(f"ALL CLEAR given at {tx.hhmm(ld['ended_at'] or tx.now)} by "
                     f"{ender.name if ender else 'a manager'}.")
        return Outbound("\n".join(lines), priority=Priority.alarm)
    return Outbound("\n".join(lines), priority=Priority.alarm,
                    buttons=(Button("All clear", "lockdown.clear", str(ld["id"])),))


def refresh(tx: Tx, lid: int) -> sqlite3.Row:
    ld = load(tx.conn, lid)
    assert ld is not None
    tx.set_card(_card(lid), render(tx, ld))
    tx.set_card(_info_card(lid), render(tx, ld, info=True))
    tx.set_card(_rollcall_card(lid), render_rollcall(tx, ld))
    return ld
