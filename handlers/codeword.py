"""Codeword -> alert: an innocent cover reply to the sender, the ladder starts at once.

A codeword phrase from an account not on the roster is never silent: the sender gets the
neutral reply like any stranger, and the admins are told (once per account per day) with
the platform, account id and display name, so a mistyped id is found before it matters.
On Slack every member belongs to the library, so there it is an alert card marked
"unverified sender" that climbs until an admin acknowledges it.
"""

from __future__ import annotations

import logging

from bot import escalation
from bot.messages import Inbound, Outbound
from bot.model import Codeword, Ladder, Person, Priority, Role, Tier
from bot.permissions import allowed
from bot.registry import reads, stranger
from bot.unit import COVER, Tx

log = logging.getLogger(__name__)

ADMINS_ONLY = Ladder(tiers=(Tier(notify=("role:admin",), wait=120, repeat="forever"),), fallback=("role:admin",))
UNVERIFIED = "Unverified sender"
ALERT_KINDS = {"codeword": "codeword alert(s)"}  # what a count of this capability's alerts is called


def raise_codeword(tx: Tx, person: Person, msg: Inbound, codeword: Codeword) -> None:
    if not allowed(person, "raise_alert"):
        return
    action = tx.app.codeword_actions.get(codeword.action)  # e.g. backup (handlers/backup.py)
    if action is not None:
        action(tx, person, msg, codeword)
        return
    alert(tx, person, msg, codeword)


def alert(tx: Tx, person: Person, msg: Inbound, codeword: Codeword) -> None:
    """The codeword's alert: the cover reply to the sender, then the ladder."""
    tx.reply(msg, Outbound(codeword.cover_reply, priority=Priority.alarm), person=person, tag=COVER)
    escalation.raise_alert(
        tx,
        kind="codeword",
        ref=codeword.key,
        severity=codeword.severity,
        ladder=tx.book.ladders[codeword.ladder],
        title=codeword.meaning,
        person=person,
        branch=person.branch,
        ack_reply=codeword.ack_reply,
        reply_to=(msg.platform, msg.chat_id),
    )


def _match(tx: Tx, msg: Inbound) -> Codeword | None:
    key = tx.ctx.matcher.match(msg.text) if msg.text else None
    if key is None:
        return None
    codeword = tx.book.codewords[key]
    if msg.is_group and not codeword.in_channels:
        return None
    return codeword


@reads(in_channels=True)  # its phrases are the book's, found anywhere in a message
def read_codeword(tx: Tx, person: Person, msg: Inbound) -> bool:
    """SAFETY, first of all: a codeword anywhere in a message raises its alert."""
    codeword = _match(tx, msg)
    if codeword is None:
        return False
    raise_codeword(tx, person, msg, codeword)
    return True


@stranger
def stranger_codeword(tx: Tx, msg: Inbound) -> None:
    """A codeword from an account not on the roster: the neutral reply (the router's), and the admins told."""
    codeword = _match(tx, msg)
    if codeword is None:
        return
    name = msg.display_name or "(no display name)"
    log.warning("codeword %r from %s account %s (%s), which is not on the roster", codeword.key, msg.platform,
                msg.user_id, name)
    day = tx.local().strftime("%Y-%m-%d")
    new = tx.conn.execute("INSERT INTO stranger_codewords(platform, user_id, day, display_name, codeword,"
                          " at) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                          (msg.platform, msg.user_id, day, name, codeword.key, tx.now)).rowcount
    if not new:
        return  # told already today
    about = (f"{UNVERIFIED}: a codeword ({codeword.meaning}) came from {msg.platform} account {msg.user_id}, "
             f"display name \"{name}\", which is not on the roster. They were given the neutral reply. "
             "Check the account ids in the service file (a mistyped id?) and find out who sent it.")
    if msg.platform == "slack":  # every member of the workspace belongs to the library: treat it as an alert
        escalation.raise_alert(tx, kind="unverified", ref=f"{msg.platform}:{msg.user_id}",
                               severity=codeword.severity, ladder=ADMINS_ONLY,
                               title=f"{UNVERIFIED} - {codeword.meaning}", person=None, branch=None,
                               details=about, ack_reply=None)
        return
    for admin in [p for p in tx.directory.people.values() if p.role == Role.admin]:
        tx.send(admin, Outbound(about, priority=Priority.alarm), tag="unverified")
