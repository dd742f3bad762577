"""Who people are: chat accounts, invites, shifts and cover, roster edits, leavers, unknown senders.

Erase deletes what exists only for the person (chat accounts, invites, shifts, cover) and replaces
their name and phone number in the roster's history, whose rows stay (who changed the roster, when).
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
    set_key,
)

WHILE = "while they are on the roster; deleted when they leave"
RECORDS = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years)"
BINDINGS = Holding("bindings", ("person",), ("user_id",), WHILE, "which chat account is whom, so alarms reach them")
INVITES = Holding("invites", ("person", "created_by", "used_by"), (), "until used or expired; deleted after the"
                  " incident retention", "a one-time code linking a chat account to a roster entry")
SHIFTS = Holding("shifts", ("person",), (), WHILE, "who is on shift, so alarms go to people at work")
COVERS = Holding("covers", ("person",), ("branch",), RECORDS, "who covers another branch, and until when")
OVERLAY = Holding("roster_overlay", ("key", "by"), ("data",), "while they are on the roster",
                  "roster edits made in chat or on the command line (name, phone, role)")
AUDIT = Holding("roster_audit", ("by", "person"), ("before", "after"), RECORDS,
                "who changed the roster, when and what (their name and phone number as they were)")
RETIRED = Holding("people_retired", ("key", "was", "by"), ("name",), "until erased",
                  "the name of someone who left, so their records still say who they were")
STRANGERS = Holding("stranger_codewords", (), ("display_name", "user_id", "codeword"), "the message retention"
                    " (SAFERBOT_OUTBOX_RETENTION, 30 days)", "a codeword from an unknown chat account: who to look for")


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [section(conn, BINDINGS, subject, "Chat accounts", lambda r: f"{r['platform']} account"),
            section(conn, INVITES, subject, "Invites", lambda r: f"invite for {r['person']}"),
            section(conn, SHIFTS, subject, "Shifts", lambda r: "shift"),
            section(conn, COVERS, subject, "Cover at other branches", lambda r: f"cover {r['id']}"),
            section(conn, OVERLAY, subject, "Roster entries", lambda r: f"roster entry {r['key']}"),
            section(conn, AUDIT, subject, "Roster changes", lambda r: f"roster change {r['id']}"),
            section(conn, RETIRED, subject, "Left the roster", lambda r: f"left as {r['key']}"),
            section(conn, STRANGERS, subject, "Codewords from an unknown account naming them",
                    lambda r: f"{r['platform']} account {r['user_id']}")]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    key = subject.key
    done = Done()
    for table in ("bindings", "invites", "shifts", "covers"):
        done.changed += delete_key(conn, table, "person", key, dry_run)
    done.changed += set_key(conn, "invites", ("created_by", "used_by"), key, None, dry_run)
    for holding in (OVERLAY, AUDIT, STRANGERS):
        done.changed += scrubbed(conn, holding, subject, dry_run)
    n = conn.execute("SELECT COUNT(*) FROM roster_audit WHERE person=? AND (before IS NOT NULL OR after IS NOT NULL)",
                     (key,)).fetchone()[0] if key else 0
    if n:
        done.changed.append(f"roster_audit: {'would' if dry_run else 'did'} clear the details of {n} change(s)")
        if not dry_run:
            conn.execute("UPDATE roster_audit SET before=NULL, after=NULL WHERE person=?", (key,))
    n = conn.execute("SELECT COUNT(*) FROM people_retired WHERE key=? AND name IS NOT NULL", (key,)).fetchone()[0] \
        if key else 0
    if n:
        done.changed.append(f"people_retired: {'would' if dry_run else 'did'} forget the name they had")
        if not dry_run:
            conn.execute("UPDATE people_retired SET name=NULL WHERE key=?", (key,))
    done.changed += scrubbed(conn, RETIRED, subject, dry_run)
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    rules = policy(now)
    done = Done()
    for table, sql, cut in (("covers", "until < ?", rules.cutoff), ("invites", "expires_at < ?", rules.cutoff),
                            ("roster_audit", "at < ?", rules.cutoff),
                            ("stranger_codewords", "at < ?", rules.messages_cutoff)):
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {sql}", (cut,)).fetchone()[0]
        if n:
            done.changed.append(f"{table}: {n}")
            if not dry_run:
                conn.execute(f"DELETE FROM {table} WHERE {sql}", (cut,))
    return done


OWNER = Owner("people", (BINDINGS, INVITES, SHIFTS, COVERS, OVERLAY, AUDIT, RETIRED, STRANGERS), about, forget, purge)
