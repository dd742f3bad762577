"""The lockdown capability's personal data: lockdowns (who sent what), roll calls and drill mode.

Erase takes the sender's key out of a lockdown and replaces their name and words in its message;
their roll-call answers go. Purge blanks ended lockdowns past retention and deletes their roll calls
and every card of theirs (the lockdown card, the information card, the roll call).
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

from .lockdown_cards import _card, _info_card, _rollcall_card

RETENTION = "the incident retention (SAFERBOT_RETENTION_YEARS, 6 years), then the message and sender are blanked"
LOCKDOWNS = Holding("lockdowns", ("by", "ended_by"), ("message", "scope"), RETENTION,
                    "who started and ended a lockdown or evacuation, and what it said: health and safety record")
ROLLCALL = Holding("rollcall", ("person",), ("answer", "branch"), "deleted with the lockdown, after the incident retention", "who answered a roll call, and how")
DRILLS = Holding("drills", ("by",), ("branch",), "while drill mode is on", "who put a branch into drill mode")


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [section(conn, LOCKDOWNS, subject, "Lockdowns they started or ended, or naming them",
                    lambda r: f"lockdown {r['id']}", lambda r: [r["message"]]),
            section(conn, ROLLCALL, subject, "Roll-call answers", lambda r: f"lockdown {r['lockdown_id']}"),
            section(conn, DRILLS, subject, "Drill mode they started", lambda r: f"drill at {r['branch']}")]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    key = subject.key
    done = Done()
    done.changed += scrubbed(conn, LOCKDOWNS, subject, dry_run)
    done.changed += set_key(conn, "lockdowns", ("by",), key, "", dry_run)
    done.changed += set_key(conn, "lockdowns", ("ended_by",), key, None, dry_run)
    done.changed += delete_key(conn, "rollcall", "person", key, dry_run)
    done.changed += set_key(conn, "drills", ("by",), key, None, dry_run)
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    rules = policy(now)
    ids = [r[0] for r in conn.execute("SELECT id FROM lockdowns WHERE created_at < ? AND status != 'active'"
                                      " AND (message != '' OR by != '' OR ?)", (rules.cutoff, int(rules.delete)))]
    if not dry_run:
        conn.executemany("DELETE FROM rollcall WHERE lockdown_id=?", [(i,) for i in ids])
        delete_cards(conn, [k for i in ids for k in (_card(i), _info_card(i), _rollcall_card(i))])
        conn.executemany("DELETE FROM lockdowns WHERE id=?" if rules.delete else
                         "UPDATE lockdowns SET message='', by='', ended_by=NULL WHERE id=?", [(i,) for i in ids])
    return Done([f"lockdowns: {len(ids)}"] if ids else [])


OWNER = Owner("lockdown", (LOCKDOWNS, ROLLCALL, DRILLS), about, forget, purge)
