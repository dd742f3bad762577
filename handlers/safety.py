"""'I'm safe' and 'I need help': the readers of the everyday safety words.

Two capabilities care when someone says they are safe: a lockdown's roll call and a
lone-working session. One phrase has one owner at one priority, so this module owns the
words (bot.words.SAFE, NEED_HELP) and tells each capability: during a lockdown a lone
worker's "I'm safe" answers the roll call AND checks in. "I need help" answers a roll
call; outside one it offers backup in one press, and never becomes a form answer. Both
are SAFETY readers: an open form never takes them.
"""

from __future__ import annotations

from bot import words
from bot.messages import Inbound, Outbound
from bot.model import Person, Priority
from bot.permissions import allowed
from bot.registry import reads
from bot.unit import Tx

from . import backup, lockdown, lone_working

OFFER = ("If you need a colleague with you now, press Ask for backup now (or send: backup <where you are>). "
         "If you are in danger, call 999.")


@reads(phrases=words.SAFE)
def proof_of_life(tx: Tx, person: Person, msg: Inbound) -> bool:
    if words.normalise(msg.text) not in words.SAFE:
        return False
    answered = lockdown.answer_typed(tx, person, msg, "safe")
    checked = lone_working.check_in_typed(tx, person, msg)
    return answered or checked


@reads(phrases=words.NEED_HELP)
def need_help(tx: Tx, person: Person, msg: Inbound) -> bool:
    if words.normalise(msg.text) not in words.NEED_HELP:
        return False
    if lockdown.answer_typed(tx, person, msg, "help"):
        return True
    buttons = (backup.ask_button(),) if allowed(person, "request_backup") and person.branch else ()
    tx.reply(msg, Outbound(OFFER, buttons=buttons, priority=Priority.alarm), person=person)
    return True
