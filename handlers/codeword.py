"""Codeword -> alert: an innocent cover reply to the sender, the ladder starts at once."""

from __future__ import annotations

from bot import escalation
from bot.messages import Inbound, Outbound
from bot.model import Codeword, Person, Priority
from bot.permissions import allowed
from bot.unit import Tx

BACKUP_ACTIONS: dict[str, object] = {}  # filled by handlers.backup: codewords whose action is backup


def raise_codeword(tx: Tx, person: Person, msg: Inbound, codeword: Codeword) -> None:
    if not allowed(person, "raise_alert"):
        return
    if codeword.action == "backup" and "backup" in BACKUP_ACTIONS:
        BACKUP_ACTIONS["backup"](tx, person, msg, codeword)  # type: ignore[operator]
        return
    tx.reply(msg, Outbound(codeword.cover_reply, priority=Priority.alarm), person=person, tag="cover")
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
