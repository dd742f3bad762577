"""Map one Inbound to the capability that decides what it means.

The order is the App's wiring (bot/app.py, set by the entry point in bot/compose.py),
by priority group: a button press or submitted form; then SAFETY readers (codewords
anywhere in a message, duress, roll-call answers, the words of a live lone session,
stand down); then ANSWER readers (an open form or conversation); then a command word;
then HELP (a one-line "did you mean" or a pointer to `help`). Between SAFETY and ANSWER, a
button's words typed as text ("on my way") press it when that message is the person's newest
with buttons (bot/typed_buttons.py); on an older one they get a hint naming it. A false alarm costs a
manager a minute; a missed codeword could cost far more.

Rules that apply to every message live here, like slack-bolt middleware: strangers get a
neutral reply, button data must look like what the bot wrote, in a group or channel only
a /command or a reader marked for channels counts, and an urgent command word typed at
the start ("backup to the desk") beats the answer to an open form.
"""

from __future__ import annotations

from dataclasses import replace

from . import typed_buttons, words
from .messages import Inbound, Outbound
from .model import Person
from .permissions import allowed
from .registry import Command, Group
from .unit import Tx

NEUTRAL = "Hello! This number is for library staff. Please ask at the desk if you need help."
NOT_ALLOWED = "Sorry, that is not something your role can do here."
EXPIRED = "That button has expired."
UNKNOWN = "Sorry, I didn't understand that. Send help to see what you can do."


def first_word(tx: Tx, text: str) -> tuple[str, str]:
    """(command key, rest) if the message starts with a known command word, else ('', text)."""
    return words.split_command(text, tx.app.commands)


def route(tx: Tx, msg: Inbound) -> None:
    person = tx.directory.find(msg.platform, msg.user_id)
    if person is None:
        _stranger(tx, msg)
        return
    if msg.action:
        _button(tx, person, msg)
        return
    if msg.form:
        handler = tx.app.submits.get(msg.form)
        if handler:
            handler(tx, person, msg)
        return
    word, rest = first_word(tx, msg.text)
    cmd = tx.app.commands.get(word)
    slash = msg.text.lstrip().startswith("/")
    if cmd and msg.is_group and not slash:
        cmd = None  # in a group or channel only an explicit /command is one: "alerts are going off" is chat
    # a /command, a command word on its own, or an urgent one the person may use ("backup ...") is a
    # command even with a form open; "lockdown was called" from staff is an answer
    skip_answers = cmd is not None and (slash or not rest or (cmd.urgent and allowed(person, cmd.permission)))
    typed: typed_buttons.Typed | None = None
    looked = False
    for reader in tx.app.readers:
        if msg.is_group and not reader.in_channels:
            continue
        if reader.group > Group.SAFETY and not looked:  # safety words first, then a typed button label
            looked = True
            typed = _typed_label(tx, person, msg, slash)
            if typed and typed.latest:
                return _press(tx, person, msg, typed)
        if reader.group == Group.ANSWER and skip_answers:
            break
        if reader.fn(tx, person, msg):
            return
    if not looked:
        typed = _typed_label(tx, person, msg, slash)
        if typed and typed.latest:
            return _press(tx, person, msg, typed)
    if typed and not (cmd and not rest):  # "on my way" on an older card: say which card, not 'on shift'
        tx.reply(msg, Outbound(typed_buttons.hint(typed)), person=person)
        return
    if cmd:
        _command(tx, person, msg, cmd, rest)
    elif not msg.is_group:
        _help(tx, person, msg)


def _typed_label(tx: Tx, person: Person, msg: Inbound, slash: bool) -> typed_buttons.Typed | None:
    """A button label typed as words, in a private chat (a group's chatter is never a press)."""
    if msg.is_group or slash:
        return None
    return typed_buttons.find(tx.conn, person.key, msg.text)


def _press(tx: Tx, person: Person, msg: Inbound, typed: typed_buttons.Typed) -> None:
    """The typed words of a button on the person's newest message with buttons: exactly the press."""
    _button(tx, person, replace(msg, text="", action=typed.button.action, arg=typed.button.arg))


def _command(tx: Tx, person: Person, msg: Inbound, cmd: Command, rest: str) -> None:
    if allowed(person, cmd.permission):
        cmd.fn(tx, person, msg, rest)
    else:
        tx.reply(msg, Outbound(NOT_ALLOWED), person=person)


def _help(tx: Tx, person: Person, msg: Inbound) -> None:
    """Nothing took the message: one line, never the whole list (that is what `help` is for)."""
    tokens = msg.text.split()
    mine = [k for k, c in tx.app.commands.items() if allowed(person, c.permission) and c.help]
    # "stnad down" is one command of two words; "bakcup by the desk" is one word and the rest
    guess = (len(tokens) > 1 and words.did_you_mean(words.key(" ".join(tokens[:2])), mine)) or \
        words.did_you_mean(words.first_key(msg.text), mine)
    if guess:
        name = tx.app.commands[guess].name
        tx.reply(msg, Outbound(f"Did you mean {name}? Send {name} to use it, or help for the list."),
                 person=person)
    else:
        tx.reply(msg, Outbound(UNKNOWN), person=person)


def _stranger(tx: Tx, msg: Inbound) -> None:
    """Not on the roster: public commands (registration), else the neutral reply; capabilities may
    look too (a codeword from a mistyped account must not vanish)."""
    word, rest = words.split_command(msg.text, tx.app.public)
    if word in tx.app.public and msg.action is None:
        tx.app.public[word](tx, msg, rest)
        return
    if msg.action is None and not msg.form:
        for look in tx.app.strangers:
            look(tx, msg)
    if not msg.is_group:
        tx.reply(msg, Outbound(NEUTRAL, ephemeral=True))


def _button(tx: Tx, person: Person, msg: Inbound) -> None:
    entry = tx.app.buttons.get(msg.action or "")
    if entry is None or not words.sane_arg(msg.arg):
        tx.reply(msg, Outbound(EXPIRED), person=person)
        return
    fn, permission = entry
    if not allowed(person, permission):
        tx.reply(msg, Outbound(NOT_ALLOWED), person=person)
        return
    fn(tx, person, msg, msg.arg)
