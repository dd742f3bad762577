"""People's data: where a person's key appears, retiring a leaver's key, subject access and erasure.

Subject access, erase and purge are compositions over the App's data owners (bot/personal_data.py):
each table's owner says what it holds about a person and how to forget them.

PERSON_COLUMNS lists the columns a leaver's rows are re-pointed by: at a retired key (alice~1), so a
new person given the same key never inherits them. A test checks every table's key-like columns are
listed here, and another that each is declared by its owner, so a new table cannot silently escape
leaving, retention, access or erasure.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from bot import personal_data
from bot.personal_data import Done, Found, Holding, Owner, Subject, scrubbed, section
from bot.store import columns

from . import registration

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
    "bans": ("created_by", "decided_by", "ended_by"),
    "ban_audit": ("actor",),
    "ban_disclosures": ("actor",),
    "ban_drafts": ("person",),
    "headsups": ("created_by",),
    "trigger_devices": ("created_by",),
    "board_links": ("person",),
    "contact_methods": ("person",),
    "phone_codes": ("person",),
    "phone_sends": ("person",),
}
# what a leaver's re-used key must not carry to the next person: these rows are ended, not re-pointed
ENDED_ON_LEAVING = ("bindings", "shifts", "board_links", "contact_methods", "phone_codes")  # a leaver's number is never texted again
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


def retired_keys(conn: sqlite3.Connection) -> set[str]:
    """Roster keys whose holder left (the directory's `Duty.retired`): the next holder of one is a new person."""
    try:
        return {r[0] for r in conn.execute("SELECT was FROM people_retired")}
    except sqlite3.OperationalError:  # privacy's table is not there (a bare store)
        return set()


def former_name(conn: sqlite3.Connection, key: str | None) -> str | None:
    """The name of someone who has left, by the retired key their records carry."""
    if not key or "~" not in key:
        return None
    row = conn.execute("SELECT name FROM people_retired WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


# --- subject access, erasure and purge: compositions over the App's data owners --------------------------------
def _history(conn: sqlite3.Connection, key: str) -> list[tuple]:
    """The roster changes of the person a key stands for, split at each removal: alice~2 is whoever
    held `alice` in its second tenure; a plain key, whoever holds it since its last removal."""
    was, n = (key.split("~", 1)[0], key.split("~", 1)[1]) if "~" in key else (key, "")
    tenures: list[list[tuple]] = [[]]
    for before, after, action in conn.execute("SELECT before, after, action FROM roster_audit WHERE person=?"
                                              " ORDER BY id", (was,)).fetchall():
        tenures[-1].append((before, after))
        if action == "remove":
            tenures.append([])
    if not n:
        return tenures[-1]
    return tenures[int(n) - 1] if n.isdigit() and 0 < int(n) <= len(tenures) else []


def subject(conn: sqlite3.Connection, key: str, names: list[str], phones: list[str]) -> Subject:
    """Whom a request is about: the key, and every name and phone number they had (the roster's history
    keeps them as they were), so free text naming them is found by whole words."""
    names, phones = list(names), list(phones)
    for before, after in _history(conn, key):
        for blob in (before, after):
            try:
                held = json.loads(blob) if blob else {}
            except ValueError:
                continue
            if isinstance(held, dict):
                names += [held["name"]] if isinstance(held.get("name"), str) else []
                phones += [held["phone"]] if isinstance(held.get("phone"), str) else []
    clean = sorted({n.strip() for n in names if n and n.strip()})
    return Subject(key, tuple(clean), tuple(sorted({p for p in phones if p and p.strip()})),
                   accounts=registration.accounts_of(conn, key))


def subject_access(owners: list[Owner], conn: sqlite3.Connection, who: Subject) -> list[Found]:
    return personal_data.subject_access(owners, conn, who)


def erase(owners: list[Owner], conn: sqlite3.Connection, who: Subject, *, dry_run: bool) -> Done:
    """Every owner forgets the person: what exists only for them goes, records others rely on keep no
    name, phone or words of theirs; what the law needs kept is listed with the reason."""
    return personal_data.erase(owners, conn, who, dry_run)


# --- this capability's own table: the names of people who left ----------------------------------------------
RETIRED = Holding("people_retired", ("key", "was", "by"), ("name",), "until they are erased",
                  "the name of someone who left, so their records still say who they were")


def _about(conn: sqlite3.Connection, who: Subject) -> list[Found]:
    return [section(conn, RETIRED, who, "Left the roster", lambda r: f"left as {r['key']}")]


def _forget(conn: sqlite3.Connection, who: Subject, dry_run: bool) -> Done:
    n = conn.execute("SELECT COUNT(*) FROM people_retired WHERE key=? AND name IS NOT NULL", (who.key,)).fetchone()[0]
    done = Done([f"people_retired: {'would' if dry_run else 'did'} forget the name they had"] if n else [])
    if n and not dry_run:
        conn.execute("UPDATE people_retired SET name=NULL WHERE key=?", (who.key,))
    done.changed += scrubbed(conn, RETIRED, who, dry_run)
    return done


OWNER = Owner("privacy", (RETIRED,), _about, _forget, personal_data.nothing_to_purge)
