"""Acting from the board: exactly the chat's own buttons and commands, pressed by the signed-in person.

A press from the board is an Inbound on the platform "board": the App's button (or command)
runs in one unit of work, as a press in chat does, so every chat copy of a card is edited as
it is today. What the handler answers the presser is taken out of the outbox (the board has
no chat to deliver to) and shown on the page instead.
"""

from __future__ import annotations

import secrets

from .. import escalation, words
from ..messages import Inbound
from ..permissions import allowed
from ..router import NOT_ALLOWED
from ..store import outbox
from ..unit import Tx
from .auth import may_use

PLATFORM = "board"
# what the board offers, by the chat button it presses
BUTTONS = ("alert.ack", "backup.coming", "backup.fine", "incident.reviewed")
COMMANDS = ("drill", "incident", "timeline", "report")  # drill off; read, note; an alert's timeline; the report


def _msg(person_key: str, **kw) -> Inbound:
    return Inbound(platform=PLATFORM, event_id=secrets.token_hex(8), user_id=person_key, chat_id=PLATFORM, **kw)


def _replies(tx: Tx) -> list[tuple[str, str | None]]:
    """Replies the handler queued for the board, as (text, attachment): cancelled in the outbox."""
    mine = [r for r in tx.new_rows if r["platform"] == PLATFORM]
    out = []
    for r in mine:
        text = r["text"]
        if not text and r["card"]:
            card = tx.conn.execute("SELECT text FROM cards WHERE key=?", (r["card"],)).fetchone()
            text = card[0] if card else ""
        out.append((text, r["attachment"]))
    outbox.cancel_rows(tx.conn, [r["id"] for r in mine])
    tx.new_rows[:] = [r for r in tx.new_rows if r["platform"] != PLATFORM]
    return out


def _answers(tx: Tx) -> list[str]:
    return [text for text, _ in _replies(tx) if text]


def press(tx: Tx, person_key: str, action: str, arg: str) -> list[str]:
    """Press a chat button as `person_key` (the same handler, the same permission check)."""
    person = tx.person(person_key)
    entry = tx.app.buttons.get(action)
    if person is None or not may_use(person) or action not in BUTTONS or entry is None or not words.sane_arg(arg):
        return [NOT_ALLOWED]
    fn, permission = entry
    if not allowed(person, permission):
        return [NOT_ALLOWED]
    fn(tx, person, _msg(person_key, action=action, arg=arg), arg)
    return _answers(tx)


def resolve(tx: Tx, person_key: str, alert_id: int, note: str) -> list[str]:
    """Resolve with a note: the chat's Resolve button's engine function, with the note on the timeline."""
    person = tx.person(person_key)
    alert = escalation.load(tx.conn, alert_id)
    if person is None or not may_use(person) or alert is None or not escalation.may_handle(tx, alert, person):
        return ["That alert is not one you can act on."]
    note = " ".join(note.split())[:500]
    if escalation.resolve(tx, alert.id, person, note) is None:
        return ["That alert is already resolved."]
    return [f"Alert #{alert.id} resolved."]


def command(tx: Tx, person_key: str, word: str, args: str) -> list[str]:
    """Run a chat command as `person_key` (ending a drill: `drill off <branch>`; reading an incident)."""
    return [text for text, _ in command_replies(tx, person_key, word, args) if text]


def command_replies(tx: Tx, person_key: str, word: str, args: str) -> list[tuple[str, str | None]]:
    """The same, with attachments (the monthly report's chart)."""
    person = tx.person(person_key)
    cmd = tx.app.commands.get(word)
    if person is None or not may_use(person) or word not in COMMANDS or cmd is None or \
            not allowed(person, cmd.permission):
        return [(NOT_ALLOWED, None)]
    cmd.fn(tx, person, _msg(person_key, text=f"{word} {args}"), args)
    return _replies(tx)
