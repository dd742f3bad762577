"""The roster's personal data: shifts, cover, roster entries made in chat or on the command line, and
their history. Erase deletes what exists only for the person (shifts, cover) and replaces their name and
phone number in the roster's history, whose rows stay (who changed the roster, when).
"""

from __future__ import annotations

from bot.personal_data import (
    Conn,
    Done,
    Found,
    Holding,
    Owner,
    Subject,
    delete_key,
    policy,
    scrubbed,
    section,
)

RECORDS = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years)"
SHIFTS = Holding("shifts", ("person",), (), "while they are on the roster; deleted when they leave",
                 "who is on shift, so alarms go to people at work")
COVERS = Holding("covers", ("person",), ("branch",), RECORDS, "who covers another branch, and until when")
OVERLAY = Holding("roster_overlay", ("key", "by"), ("data",), "while they are on the roster",
                  "roster edits made in chat or on the command line (name, phone, role)")
AUDIT = Holding("roster_audit", ("by", "person"), ("before", "after"), RECORDS,
                "who changed the roster, when and what (their name and phone number as they were)")


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [section(conn, SHIFTS, subject, "Shifts", lambda r: "shift"),
            section(conn, COVERS, subject, "Cover at other branches", lambda r: f"cover {r['id']}"),
            section(conn, OVERLAY, subject, "Roster entries", lambda r: f"roster entry {r['key']}"),
            section(conn, AUDIT, subject, "Roster changes", lambda r: f"roster change {r['id']}")]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    key = subject.key
    done = Done()
    for table in ("shifts", "covers"):
        done.changed += delete_key(conn, table, "person", key, dry_run)
    for holding in (OVERLAY, AUDIT):
        done.changed += scrubbed(conn, holding, subject, dry_run)
    n = conn.execute("SELECT COUNT(*) FROM roster_audit WHERE person=? AND (before IS NOT NULL OR after IS NOT NULL)",
                     (key,)).fetchone()[0] if key else 0
    if n:
        done.changed.append(f"roster_audit: {'would' if dry_run else 'did'} clear the details of {n} change(s)")
        if not dry_run:
            conn.execute("UPDATE roster_audit SET before=NULL, after=NULL WHERE person=?", (key,))
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    rules = policy(now)
    return Done(older(conn, (("covers", "until"), ("roster_audit", "at")), rules.cutoff, dry_run))


def older(conn: Conn, tables: tuple[tuple[str, str], ...], cutoff: float, dry_run: bool) -> list[str]:
    """Delete rows whose time column is before `cutoff`: a line per table saying how many."""
    out = []
    for table, col in tables:
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col} < ?", (cutoff,)).fetchone()[0]
        if n:
            out.append(f"{table}: {n}")
            if not dry_run:
                conn.execute(f"DELETE FROM {table} WHERE {col} < ?", (cutoff,))
    return out


OWNER = Owner("roster", (SHIFTS, COVERS, OVERLAY, AUDIT), about, forget, purge)
