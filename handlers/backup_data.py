"""The backup capability's personal data: requests for help (the person's own note) and the answers.

Erase blanks the person's own note and takes their key out of the request, which stays as a count;
their answers to others' requests go. Purge does the same to closed requests past retention, and
deletes their cards.
"""

from __future__ import annotations

from bot.core_data import delete_cards
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

from . import backup

RETENTION = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years), then the note and person are blanked"
REQUESTS = Holding("backup_requests", ("person",), ("what", "codeword", "reply_chat"), RETENTION,
                   "a call for a colleague's help: who asked, where, and what for")
ANSWERS = Holding("backup_answers", ("person",), ("answer",), "deleted with the request, after the incident retention", "who answered a call for help, and how")


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [section(conn, REQUESTS, subject, "Calls for backup", lambda r: f"request {r['id']}", lambda r: [r["what"]]),
            section(conn, ANSWERS, subject, "Answers to calls for backup", lambda r: f"request {r['request_id']}")]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    key = subject.key
    done = Done()
    n = conn.execute("SELECT COUNT(*) FROM backup_requests WHERE person=? AND what != ''", (key,)).fetchone()[0] \
        if key else 0
    if n:
        done.changed.append(f"backup_requests: {'would' if dry_run else 'did'} clear their note in {n} request(s)")
        if not dry_run:
            conn.execute("UPDATE backup_requests SET what='', reply_chat=NULL WHERE person=?", (key,))
    done.changed += scrubbed(conn, REQUESTS, subject, dry_run)
    done.changed += set_key(conn, "backup_requests", ("person",), key, "", dry_run)
    done.changed += delete_key(conn, "backup_answers", "person", key, dry_run)
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    rules = policy(now)
    ids = [r[0] for r in conn.execute("SELECT id FROM backup_requests WHERE created_at < ? AND status != 'open'"
                                      " AND (what != '' OR person != '' OR ?)", (rules.cutoff, int(rules.delete)))]
    if not dry_run:
        conn.executemany("DELETE FROM backup_answers WHERE request_id=?", [(i,) for i in ids])
        delete_cards(conn, [k for i in ids for k in (backup._card(i), backup._mine(i))])
        conn.executemany("DELETE FROM backup_requests WHERE id=?" if rules.delete else
                         "UPDATE backup_requests SET what='', person='', reply_chat=NULL WHERE id=?", [(i,) for i in ids])
    return Done([f"backup_requests: {len(ids)}"] if ids else [])


OWNER = Owner("backup", (REQUESTS, ANSWERS), about, forget, purge)
