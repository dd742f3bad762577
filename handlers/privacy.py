"""People's data: where a person's key appears, retiring a leaver's key, subject access and erasure.

PERSON_COLUMNS is the one list of columns that hold a person's roster key. A leaver's rows are
re-pointed at a retired key (alice~1) so a new person given the same key never inherits them;
subject access and erasure walk the same list. A test checks every table's key-like columns are
listed here, so a new table cannot silently escape retention, access or erasure.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from bot.store import columns

# table -> columns holding a person key
PERSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "alerts": ("person", "acked_by", "resolved_by"),
    "alert_events": ("actor",),
    "alert_recipients": ("person",),
    "alert_about": ("person",),
    "incidents": ("reporter", "reviewed_by"),
    "incident_notes": ("author",),
    "incident_audit": ("reader",),
    "incident_drafts": ("person",),
    "welfare_checklist": ("done_by",),
    "welfare_checkins": ("person",),
    "lone_sessions": ("person", "ended_by"),
    "covers": ("person",),
    "shifts": ("person",),
    "backup_requests": ("person",),
    "backup_answers": ("person",),
    "lockdowns": ("by", "ended_by"),
    "rollcall": ("person",),
    "drills": ("by",),
    "outbox": ("person",),
    "invites": ("person", "created_by"),
    "bindings": ("person",),
    "roster_audit": ("by", "person"),
    "roster_overlay": ("key", "by"),
    "people_retired": ("key", "was", "by"),
    "contact_methods": ("person",),
    "phone_codes": ("person",),
    "phone_sends": ("person",),
}
# what a leaver's re-used key must not carry to the next person: these rows are ended, not re-pointed
ENDED_ON_LEAVING = ("bindings", "shifts", "contact_methods", "phone_codes")  # a leaver's number is never texted again
# the history of the key itself stays with the key (it is the roster's own audit trail)
KEY_HISTORY = {("roster_audit", "person"), ("roster_overlay", "key"), ("people_retired", "key"),
               ("people_retired", "was"), ("roster_overlay", "by")}


def present(conn: sqlite3.Connection) -> Iterable[tuple[str, str]]:
    """(table, column) pairs of PERSON_COLUMNS that exist in this store."""
    for table, cols in PERSON_COLUMNS.items():
        have = columns(conn, table)
        for col in cols:
            if col in have:
                yield table, col


class StillActive(ValueError):
    """The person has something live (a lone-working session, an open alert) that must end first."""


def live_things(conn: sqlite3.Connection, key: str) -> list[str]:
    out = []
    if conn.execute("SELECT 1 FROM lone_sessions WHERE person=? AND status='live'", (key,)).fetchone():
        out.append("a live lone-working session")
    if conn.execute("SELECT 1 FROM alerts WHERE person=? AND status!='resolved'", (key,)).fetchone():
        out.append("an alert that is not resolved")
    return out


def retire(conn: sqlite3.Connection, key: str, name: str | None, *, now: float, by: str | None) -> str:
    """A leaver: end their chat bindings, invites and queued messages, and re-point their records at a
    retired key, so the roster key is free for a new person. Returns the retired key."""
    live = live_things(conn, key)
    if live:
        raise StillActive(f"they have {' and '.join(live)}; end it first, then remove them")
    n = conn.execute("SELECT COUNT(*) FROM people_retired WHERE was=?", (key,)).fetchone()[0] + 1
    retired = f"{key}~{n}"  # '~' is not allowed in roster keys, so this can never be re-used
    conn.execute("INSERT INTO people_retired(key, was, name, at, by) VALUES(?,?,?,?,?)", (retired, key, name, now, by))
    for table in ENDED_ON_LEAVING:
        conn.execute(f"DELETE FROM {table} WHERE person=?", (key,))
    conn.execute("UPDATE invites SET status='revoked' WHERE person=? AND status='open'", (key,))
    conn.execute("UPDATE outbox SET status='cancelled' WHERE person=? AND status='pending'", (key,))
    for table, col in list(present(conn)):
        if table in ENDED_ON_LEAVING or (table, col) in KEY_HISTORY:
            continue
        conn.execute(f"UPDATE {table} SET {col}=? WHERE {col}=?", (retired, key))
    return retired


def former_name(conn: sqlite3.Connection, key: str | None) -> str | None:
    """The name of someone who has left, by the retired key their records carry."""
    if not key or "~" not in key:
        return None
    row = conn.execute("SELECT name FROM people_retired WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


# --- subject access -------------------------------------------------------------------------------------
def _rows(conn: sqlite3.Connection, sql: str, *args: object) -> list[dict]:
    return [dict(r) for r in conn.execute(sql, args).fetchall()]


def mentions(text: str, names: list[str]) -> bool:
    low = text.lower()
    return any(n and n.lower() in low for n in names)


def subject_access(conn: sqlite3.Connection, key: str, names: list[str]) -> dict[str, list[dict]]:
    """Everything the store holds that names the person: by key, and incidents that name them in text."""
    conn.row_factory = sqlite3.Row
    out: dict[str, list[dict]] = {}
    incidents = []
    for r in conn.execute("SELECT * FROM incidents ORDER BY id"):
        given = json.loads(r["answers"] or "{}")
        roles = []
        if r["reporter"] == key:
            roles.append("reporter")
        if r["reviewed_by"] == key:
            roles.append("reviewer")
        if mentions(given.get("affected_names") or "", names):
            roles.append("affected person")
        if mentions(given.get("witnesses") or "", names):
            roles.append("witness")
        other = " ".join(str(v) for k, v in given.items() if k not in ("affected_names", "witnesses"))
        if mentions(r["text"] + " " + other, names):
            roles.append("named in the text")
        if roles:
            incidents.append({**dict(r), "answers": given, "their_part": ", ".join(roles)})
    out["incidents"] = incidents
    out["incident_notes"] = _rows(conn, "SELECT n.*, i.ref FROM incident_notes n JOIN incidents i"
                                        " ON i.id=n.incident_id WHERE n.author=? ORDER BY n.id", key)
    out["alerts"] = _rows(conn, "SELECT id, kind, severity, branch, title, details, status, created_at, acked_by,"
                                " acked_at, resolved_by, resolved_at, person FROM alerts WHERE ? IN"
                                " (person, acked_by, resolved_by) ORDER BY id", key)
    out["alert_timelines"] = _rows(conn, "SELECT * FROM alert_events WHERE actor=? OR alert_id IN"
                                         " (SELECT id FROM alerts WHERE person=?) ORDER BY id", key, key)
    out["lone_sessions"] = _rows(conn, "SELECT * FROM lone_sessions WHERE person=? ORDER BY id", key)
    out["lone_events"] = _rows(conn, "SELECT e.* FROM lone_events e JOIN lone_sessions s ON s.id=e.session_id"
                                     " WHERE s.person=? ORDER BY e.id", key)
    out["backup_requests"] = _rows(conn, "SELECT * FROM backup_requests WHERE person=? ORDER BY id", key)
    out["backup_answers"] = _rows(conn, "SELECT * FROM backup_answers WHERE person=?", key)
    out["welfare_checkins"] = _rows(conn, "SELECT * FROM welfare_checkins WHERE person=? ORDER BY id", key)
    out["shifts_and_cover"] = (_rows(conn, "SELECT 'shift' AS what, * FROM shifts WHERE person=?", key)
                               + _rows(conn, "SELECT 'cover' AS what, * FROM covers WHERE person=?", key))
    out["lockdown_rollcalls"] = _rows(conn, "SELECT * FROM rollcall WHERE person=?", key)
    out["chat_accounts"] = _rows(conn, "SELECT platform, user_id FROM bindings WHERE person=?", key)
    out["invites"] = _rows(conn, "SELECT platform, created_by, created_at, expires_at, used_at, status"
                                 " FROM invites WHERE person=?", key)
    out["roster_changes"] = _rows(conn, "SELECT * FROM roster_audit WHERE person=? ORDER BY id", key)
    out["messages_sent_to_them"] = _rows(conn, "SELECT id, platform, text, status, created_at, sent_at FROM outbox"
                                               " WHERE person=? AND text != '' ORDER BY id", key)
    ids = [i["id"] for i in incidents]
    marks = ",".join("?" * len(ids))
    out["their_reads"] = _rows(conn, "SELECT * FROM incident_audit WHERE reader=? ORDER BY id", key)
    out["reads_of_their_incidents"] = _rows(
        conn, f"SELECT * FROM incident_audit WHERE incident_id IN ({marks}) ORDER BY id", *ids) if ids else []
    return out


# --- erasure ------------------------------------------------------------------------------------------------
# (table, what happens): rows that exist only for the person go; records others rely on are anonymised
ERASE_DELETE = ("bindings", "invites", "shifts", "covers", "incident_drafts", "welfare_checkins", "backup_answers",
                "rollcall", "alert_recipients", "alert_about")  # keyed by (thing, person): anonymising two people would clash
ERASE_ANONYMISE = {
    "incidents": "reporter", "incident_notes": "author", "alerts": "person", "alert_events": "actor",
    "lone_sessions": "person", "backup_requests": "person",
    "incident_audit": "reader", "outbox": "person", "welfare_checklist": "done_by",
}


def erase(conn: sqlite3.Connection, key: str, names: list[str], *, dry_run: bool) -> list[str]:
    """Remove what exists only for the person, anonymise records others rely on; lines saying what (would) happen."""
    verb = "would" if dry_run else "did"
    lines = []
    for table in ERASE_DELETE:
        col = "person"
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col}=?", (key,)).fetchone()[0]
        if n:
            lines.append(f"{table}: {verb} delete {n} row(s)")
            if not dry_run:
                conn.execute(f"DELETE FROM {table} WHERE {col}=?", (key,))
    sessions = conn.execute("SELECT COUNT(*) FROM lone_sessions WHERE person=? AND note!=''", (key,)).fetchone()[0]
    if sessions:
        lines.append(f"lone_sessions: {verb} clear the note of {sessions} session(s) and delete their timelines")
        if not dry_run:
            conn.execute("DELETE FROM lone_events WHERE session_id IN (SELECT id FROM lone_sessions WHERE person=?)",
                         (key,))
            conn.execute("UPDATE lone_sessions SET note='' WHERE person=?", (key,))
    sent = conn.execute("SELECT COUNT(*) FROM outbox WHERE person=? AND text!='' AND status NOT IN"
                        " ('pending','sending')", (key,)).fetchone()[0]
    if sent:
        lines.append(f"outbox: {verb} clear the text of {sent} delivered message(s)")
        if not dry_run:
            conn.execute("UPDATE outbox SET text='', buttons='[]', attachment=NULL WHERE person=? AND status NOT IN"
                         " ('pending','sending')", (key,))
    changes = conn.execute("SELECT COUNT(*) FROM roster_audit WHERE person=?", (key,)).fetchone()[0]
    if changes:
        lines.append(f"roster_audit: {verb} clear the details (name, phone) of {changes} roster change(s)")
        if not dry_run:
            conn.execute("UPDATE roster_audit SET before=NULL, after=NULL WHERE person=?", (key,))
    for table, col in ERASE_ANONYMISE.items():
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col}=?", (key,)).fetchone()[0]
        if n:
            lines.append(f"{table}: {verb} anonymise {n} record(s) (kept for the service's statistics and legal duties)")
            if not dry_run:
                value = "erased" if table in ("incident_audit",) else None
                if table in ("lone_sessions", "backup_requests"):  # NOT NULL columns
                    value = ""
                conn.execute(f"UPDATE {table} SET {col}=? WHERE {col}=?", (value, key))
    if not dry_run:
        conn.execute("UPDATE people_retired SET name=NULL WHERE key=?", (key,))
    named = [r[0] for r in conn.execute("SELECT ref, text, answers FROM incidents").fetchall()
             if mentions(f"{r[1]} {r[2]}", names)] if names else []
    if named:
        lines.append("named in the free text of " + ", ".join(named) + ": not changed automatically; a manager "
                     "should redact these by hand (records needed for health and safety may be kept)")
    return lines or ["nothing held about this person"]
