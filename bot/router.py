"""Map one Inbound to the handler that decides what it means.

Order matters for safety: a button press or submitted form, then a codeword
(anywhere in the message, so "help - is Mr Brown in today?" and a codeword typed in
the middle of a form both raise the alert), then a form waiting for a typed answer
(FIRST_CONVERSATIONS), then a command word, then an open conversation, then a short
help reply. A false alarm costs a manager a minute; a missed codeword could cost far more.
"""

from __future__ import annotations

from .messages import Inbound, Outbound
from .model import Person
from .permissions import allowed
from .registry import BUTTONS, COMMANDS, CONVERSATIONS, FIRST_CONVERSATIONS, FORMS, PUBLIC
from .unit import Tx

NEUTRAL = "Hello! This number is for library staff. Please ask at the desk if you need help."
NOT_ALLOWED = "Sorry, that is not something your role can do here."


def first_word(text: str) -> tuple[str, str]:
    word, _, rest = text.strip().partition(" ")
    word = word.lstrip("/").split("@", 1)[0].lower()  # "/lone@SaferBot" -> "lone"
    return word, rest.strip()


def route(tx: Tx, msg: Inbound) -> None:
    person = tx.directory.find(msg.platform, msg.user_id)
    if person is None:
        word, rest = first_word(msg.text)
        if word in PUBLIC and msg.action is None:
            PUBLIC[word](tx, msg, rest)
        elif not msg.is_group:
            tx.reply(msg, Outbound(NEUTRAL, ephemeral=True))
        return
    if msg.action:
        _button(tx, person, msg)
        return
    if msg.form:
        handler = FORMS.get(msg.form)
        if handler:
            handler(tx, person, msg)
        return
    if _codeword(tx, person, msg):
        return
    # conversations (form answers, "done" ending a lone session, roll-call replies) are private:
    # in a group or channel the same words are just people talking
    private = not msg.is_group
    for conv in FIRST_CONVERSATIONS if private else ():
        if conv(tx, person, msg):
            return
    word, rest = first_word(msg.text)
    cmd = COMMANDS.get(word)
    if cmd and msg.is_group and not msg.text.lstrip().startswith("/"):
        cmd = None  # in a group or channel only an explicit /command is one: "alerts are going off" is chat
    if cmd:
        if allowed(person, cmd.permission):
            cmd.fn(tx, person, msg, rest)
        else:
            tx.reply(msg, Outbound(NOT_ALLOWED), person=person)
        return
    for conv in CONVERSATIONS if private else ():
        if conv(tx, person, msg):
            return
    if private:
        COMMANDS["help"].fn(tx, person, msg, "")


def _codeword(tx: Tx, person: Person, msg: Inbound) -> bool:
    from handlers.codeword import raise_codeword

    key = tx.ctx.matcher.match(msg.text)
    if key is None:
        return False
    codeword = tx.book.codewords[key]
    if msg.is_group and not codeword.in_channels:
        return False
    raise_codeword(tx, person, msg, codeword)
    return True


def _button(tx: Tx, person: Person, msg: Inbound) -> None:
    entry = BUTTONS.get(msg.action or "")
    if entry is None:
        tx.reply(msg, Outbound("That button has expired."), person=person)
        return
    fn, permission = entry
    if not allowed(person, permission):
        tx.reply(msg, Outbound(NOT_ALLOWED), person=person)
        return
    fn(tx, person, msg, msg.arg)
