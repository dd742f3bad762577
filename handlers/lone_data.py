"""The lone-working capability's personal data: sessions (where someone went, alone) and their timelines.

Erase blanks the person's own note (where they went) and their timelines, and takes their key out of
the session, which stays as a count. Purge does the same to every finished session past retention.
"""

from __future__ import annotations

from bot.personal_data import Conn, Done, Found, Holding, Owner, Subject, policy, scrubbed, section, set_key

RETENTION = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years), then the note and person are blanked"
SESSIONS = Holding("lone_sessions", ("person", "ended_by"), ("note",), RETENTION,
                   "a lone-working session: so someone who stops answering is looked for (vital interests)")
EVENTS = Holding("lone_events", (), ("text",), "deleted with the session, after the incident retention", "a session's timeline: check-ins, reminders, escalation")


def about(conn: Conn, subject: Subject) -> list[Found]:
    sessions = section(conn, SESSIONS, subject, "Lone-working sessions", lambda r: f"session {r['id']}",
                       lambda r: [r["note"]])
    ids = {s["id"] for s in sessions.rows}
    events = section(conn, EVENTS, subject, "Lone-working timelines", lambda r: f"session {r['session_id']}")
    have = {e["id"] for e in events.rows}
    events.rows += [dict(r) for r in conn.execute("SELECT * FROM lone_events ORDER BY id").fetchall()
                    if r["session_id"] in ids and r["id"] not in have]
    return [sessions, events]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    key, verb = subject.key, "would" if dry_run else "did"
    done = Done()
    n = conn.execute("SELECT COUNT(*) FROM lone_sessions WHERE person=?", (key,)).fetchone()[0] if key else 0
    if n:
        done.changed.append(f"lone_sessions: {verb} clear the note of {n} session(s) and delete their timelines")
        if not dry_run:
            conn.execute("DELETE FROM lone_events WHERE session_id IN (SELECT id FROM lone_sessions WHERE person=?)",
                         (key,))
            conn.execute("UPDATE lone_sessions SET note='' WHERE person=?", (key,))
    done.changed += scrubbed(conn, SESSIONS, subject, dry_run)
    done.changed += scrubbed(conn, EVENTS, subject, dry_run)
    done.changed += set_key(conn, "lone_sessions", ("person",), key, "", dry_run)
    done.changed += set_key(conn, "lone_sessions", ("ended_by",), key, None, dry_run)
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    rules = policy(now)
    ids = [(r[0],) for r in conn.execute("SELECT id FROM lone_sessions WHERE started_at < ? AND status != 'live'"
                                         " AND (note != '' OR person != '' OR ?)", (rules.cutoff, int(rules.delete)))]
    if not dry_run:
        conn.executemany("DELETE FROM lone_events WHERE session_id=?", ids)
        conn.executemany("DELETE FROM lone_sessions WHERE id=?" if rules.delete else
                         "UPDATE lone_sessions SET note='', person='', ended_by=NULL WHERE id=?", ids)
    return Done([f"lone_sessions: {len(ids)}"] if ids else [])


OWNER = Owner("lone", (SESSIONS, EVENTS), about, forget, purge)
