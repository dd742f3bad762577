"""The codeword capability's personal data: codewords sent by chat accounts not on the roster.

Kept for the message retention (the admins are told once a day who to look for); erase replaces a
name in the display name shown.
"""

from __future__ import annotations

from bot.personal_data import Conn, Done, Found, Holding, Owner, Subject, policy, scrubbed, section

from .roster_data import older

STRANGERS = Holding("stranger_codewords", (), ("display_name", "user_id", "codeword"), "the message retention"
                    " (SAFERBOT_OUTBOX_RETENTION, 30 days)", "a codeword from an unknown chat account: who to look for")


def about(conn: Conn, subject: Subject) -> list[Found]:
    return [section(conn, STRANGERS, subject, "Codewords from an unknown account naming them",
                    lambda r: f"{r['platform']} account {r['user_id']}")]


def forget(conn: Conn, subject: Subject, dry_run: bool) -> Done:
    return Done(scrubbed(conn, STRANGERS, subject, dry_run))


def purge(conn: Conn, now: float, dry_run: bool) -> Done:
    return Done(older(conn, (("stranger_codewords", "at"),), policy(now).messages_cutoff, dry_run))


OWNER = Owner("codeword", (STRANGERS,), about, forget, purge)
