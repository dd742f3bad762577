"""Registration's personal data: which chat account is whom, invites, and what platforms report.

Erase deletes the person's chat accounts and invites (they exist only for them); purge deletes invites
past the incident retention.
"""

from __future__ import annotations

from bot.personal_data import Conn, Done, Found, Holding, Owner, Subject, delete_key, policy, section, set_key

from .roster_data import older

BINDINGS = Holding("bindings", ("person",), ("user_id",), "while they are on the roster; deleted when they leave",
                   "which chat account is whom, so alarms reach them")
INVITES = Holding("invites", ("person", "created_by", "used_by"), (), "until used or expired; deleted after the"
                  " incident retention", "a one-time code linking a chat account to a roster entry")
PLATFORM = Holding("platform_info", (), (), "", "what a chat platform reports about the bot (its name, team):"
                   " no personal data")


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [section(conn, BINDINGS, subject, "Chat accounts", lambda r: f"{r['platform']} account"),
            section(conn, INVITES, subject, "Invites", lambda r: f"invite for {r['person']}")]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    done = Done()
    for table in ("bindings", "invites"):
        done.changed += delete_key(conn, table, "person", subject.key, dry_run)
    done.changed += set_key(conn, "invites", ("created_by", "used_by"), subject.key, None, dry_run)
    return done


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    return Done(older(conn, (("invites", "expires_at"),), policy(now).cutoff, dry_run))


OWNER = Owner("registration", (BINDINGS, INVITES, PLATFORM), about, forget, purge)
