"""What the board shows, read from the store: one snapshot per person, only their branches.

The board is a reader: every panel is a query over the capabilities' tables as they stand,
never a copy kept elsewhere. Times are epoch seconds (the page counts ages and countdowns);
every text is plain and escaped by the templates.
"""

from __future__ import annotations

from typing import Any

from .. import escalation
from ..model import Person, Role
from ..unit import Tx

DELIVERY = {"sent": "delivered", "pending": "on its way", "sending": "on its way", "failed": "failed",
            "cancelled": "withdrawn"}
RANK = {"delivered": 0, "on its way": 1, "failed": 2, "withdrawn": 3}


def branches_for(tx: Tx, person: Person) -> list[str]:
    """Admins: every branch. Duty managers: their own, and any they are on duty for now (rota, cover)."""
    every = list(tx.directory.service.branches)
    if person.role == Role.admin:
        return every
    local = tx.local()
    return [b for b in every if b == person.branch or person.key in tx.directory.duty_managers(tx.conn, b, local)]


def _in(branch: str | None, mine: list[str], person: Person) -> bool:
    return branch in mine or (branch is None and person.role == Role.admin)


def _name(tx: Tx, key: str | None) -> str:
    p = tx.person(key)
    return p.name if p else (key or "")


def snapshot(tx: Tx, person: Person, health: list[str]) -> dict[str, Any]:
    mine = branches_for(tx, person)
    return {"now": tx.now, "branches": [tx.directory.branch_name(b) for b in mine],
            "alerts": alerts(tx, person, mine), "lone": lone(tx, person, mine), "backup": backup(tx, person, mine),
            "lockdowns": lockdowns(tx, mine), "duty": duty(tx, mine), "drills": drills(tx, mine),
            "incidents": incidents(tx, person, mine), "health": health}


LIVE = "SELECT id FROM alerts WHERE status!='resolved'"


def alerts(tx: Tx, person: Person, mine: list[str]) -> list[dict]:
    """Live alerts, unacknowledged first, then oldest first; never one about the viewer. A few queries
    for all of them (every open board reads this after every change)."""
    c = tx.conn
    rows = c.execute("SELECT * FROM alerts WHERE status!='resolved' ORDER BY created_at, id").fetchall()
    about: dict[int, set[str]] = {}
    for r in c.execute(f"SELECT alert_id, person FROM alert_about WHERE alert_id IN ({LIVE})"):
        about.setdefault(r[0], set()).add(r[1])
    told: dict[int, dict[str, str]] = {}
    for o in c.execute("SELECT alert_id, person, platform, status FROM outbox WHERE kind='send' AND tag='notify'"
                       f" AND alert_id IN ({LIVE}) ORDER BY id"):
        state, seen = DELIVERY.get(o["status"], o["status"]), told.setdefault(o["alert_id"], {})
        prev = seen.get(o["person"])
        if prev is None or RANK.get(state, 9) < RANK.get(prev.split(" via")[0], 9):
            seen[o["person"]] = f"{state} via {o['platform']}"
    out = []
    for r in rows:
        a = escalation.Alert.from_row(r)
        if not _in(a.branch, mine, person) or person.key in about.get(a.id, set()) | {a.person}:
            continue
        spot = next((line.split(":", 1)[1].strip() for line in a.details.splitlines()
                     if line.startswith("Where / what:")), "")
        out.append({
            "id": a.id, "title": a.title, "severity": a.severity.value, "status": a.status, "drill": a.drill,
            "kind": a.kind, "created_at": a.created_at, "raised_by": _name(tx, a.person) or "someone",
            "rung": f"tier {a.tier + 1} of {len(a.ladder.tiers)}" + (f", repeat {a.repeats}" if a.repeats else ""),
            "told": [{"name": _name(tx, k), "state": v} for k, v in told.get(a.id, {}).items()],
            "place": tx.directory.branch_name(a.branch) + (f": {spot}" if spot else ""),
            "acked_by": _name(tx, a.acked_by) if a.acked_by else "", "acked_at": a.acked_at,
            "may_act": True,  # board users are managers, and alerts about them are left out (escalation.may_handle)
        })
    out.sort(key=lambda x: x["status"] != "open")  # stable: oldest first within each
    return out


def lone(tx: Tx, person: Person, mine: list[str]) -> list[dict]:
    rows = tx.conn.execute("SELECT id, person, branch, note, deadline, ends_at, stage, drill FROM lone_sessions"
                           " WHERE status='live' ORDER BY deadline").fetchall()
    return [{"id": r["id"], "name": _name(tx, r["person"]), "branch": tx.directory.branch_name(r["branch"]),
             "note": r["note"], "due": r["deadline"], "ends": r["ends_at"], "stage": r["stage"],
             "overdue": r["deadline"] <= tx.now, "drill": bool(r["drill"])}
            for r in rows if _in(r["branch"], mine, person) and r["person"] != person.key]


def backup(tx: Tx, person: Person, mine: list[str]) -> list[dict]:
    out = []
    for r in tx.conn.execute("SELECT * FROM backup_requests WHERE status='open' ORDER BY id").fetchall():
        if not _in(r["branch"], mine, person) or r["person"] == person.key:
            continue
        answers = tx.conn.execute("SELECT person, answer FROM backup_answers WHERE request_id=? ORDER BY rowid",
                                  (r["id"],)).fetchall()
        by = {"coming": [], "cant": [], None: []}
        for a in answers:
            by.setdefault(a["answer"], []).append(_name(tx, a["person"]))
        out.append({"id": r["id"], "name": _name(tx, r["person"]), "branch": tx.directory.branch_name(r["branch"]),
                    "what": r["what"], "created_at": r["created_at"], "coming": by["coming"], "cant": by["cant"],
                    "waiting": by[None], "drill": bool(r["drill"]), "alert_id": r["alert_id"],
                    "i_am_coming": any(a["person"] == person.key and a["answer"] == "coming" for a in answers)})
    return out


def lockdowns(tx: Tx, mine: list[str]) -> list[dict]:
    out = []
    for r in tx.conn.execute("SELECT * FROM lockdowns WHERE status='active' ORDER BY id").fetchall():
        if not set(tx.directory.scope_branches(r["scope"])) & set(mine):
            continue
        calls = tx.conn.execute("SELECT person, branch, answer FROM rollcall WHERE lockdown_id=? ORDER BY person",
                                (r["id"],)).fetchall()
        out.append({"id": r["id"], "kind": r["kind"], "scope": r["scope"], "message": r["message"],
                    "by": _name(tx, r["by"]), "created_at": r["created_at"], "drill": bool(r["drill"]),
                    "silent": [_name(tx, c["person"]) for c in calls if c["answer"] is None and c["branch"] in mine],
                    "help": [_name(tx, c["person"]) for c in calls if c["answer"] == "help" and c["branch"] in mine],
                    "safe": sum(1 for c in calls if c["answer"] == "safe" and c["branch"] in mine)})
    return out


def duty(tx: Tx, mine: list[str]) -> list[dict]:
    d, local = tx.directory, tx.local()
    out = []
    for b in mine:
        covers = {r["person"]: r["until"] for r in d.covering(tx.conn, b, tx.now)}
        managers = [{"name": _name(tx, k), "cover_until": covers.get(k)} for k in d.duty_managers(tx.conn, b, local)]
        out.append({"branch": d.branch_name(b), "managers": managers,
                    "on_shift": [_name(tx, k) for k in d.on_shift(tx.conn, b, local)]})
    return out


def drills(tx: Tx, mine: list[str]) -> list[dict]:
    return [{"branch_key": r["branch"], "branch": tx.directory.branch_name(r["branch"]), "since": r["since"],
             "by": _name(tx, r["by"])}
            for r in tx.conn.execute("SELECT branch, since, by FROM drills ORDER BY branch") if r["branch"] in mine]


def incidents(tx: Tx, person: Person, mine: list[str]) -> list[dict]:
    """Incidents waiting: a stub waits for its form, a completed form for a manager's review."""
    rows = tx.conn.execute("SELECT id, ref, branch, created_at, status, category, drill, serious FROM incidents"
                           " WHERE status IN ('stub', 'complete') AND anonymised_at IS NULL ORDER BY created_at"
                           ).fetchall()
    return [{"ref": r["ref"], "branch": tx.directory.branch_name(r["branch"]), "created_at": r["created_at"],
             "waiting": "form to complete" if r["status"] == "stub" else "review", "category": r["category"] or "",
             "drill": bool(r["drill"]), "serious": bool(r["serious"])}
            for r in rows if _in(r["branch"], mine, person)]
