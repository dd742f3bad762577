"""Typed button labels: on a phone people type "on my way" as often as they press On my way.

While a message with buttons is the person's newest one that still has buttons, its labels
typed as words (any case, punctuation and apostrophes as `words.normalise` reads them) act
as the press. A label of an older message does nothing by itself: the person is told which
message it belongs to, so an answer never lands on the wrong card.

What a person was sent, and which buttons each copy has now, is read from the store (the
outbox rows addressed to them and the live cards), so this works the same on every platform
and after a restart.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import words
from .messages import Button, buttons_from_json

LOOK_BACK = 20  # messages with buttons looked at, newest first
LONGEST = 40  # a typed label is short; longer text is never compared


@dataclass(frozen=True)
class Typed:
    button: Button
    latest: bool  # on the person's newest message with buttons: it acts as the press
    message: str  # the first line of the message it belongs to (for the hint)


def _with_buttons(conn: sqlite3.Connection, person: str) -> list[tuple[str, tuple[Button, ...]]]:
    """(text, buttons as they are now) of the person's messages that have buttons, newest first."""
    rows = conn.execute(
        "SELECT text, buttons, card FROM outbox WHERE person=? AND kind='send' AND status NOT IN ('cancelled', 'failed')"
        " AND (card IS NOT NULL OR buttons != '[]') ORDER BY id DESC LIMIT ?", (person, LOOK_BACK * 3)).fetchall()
    out: list[tuple[str, tuple[Button, ...]]] = []
    seen: set[str] = set()
    for text, raw, card in rows:
        if card:
            if card in seen:
                continue
            seen.add(card)
            live = conn.execute("SELECT text, buttons FROM cards WHERE key=?", (card,)).fetchone()
            if live is None:
                continue
            text, raw = live[0], live[1]
        buttons = buttons_from_json(raw)
        if buttons:
            out.append((text, buttons))
        if len(out) >= LOOK_BACK:
            break
    return out


def find(conn: sqlite3.Connection, person: str, text: str) -> Typed | None:
    """The button whose label this text is, on the newest message that has it (None: not a label)."""
    if len(text) > LONGEST:
        return None
    said = words.normalise(text)
    if not said:
        return None
    for i, (body, buttons) in enumerate(_with_buttons(conn, person)):
        for b in buttons:
            if words.normalise(b.label) == said:
                first = next((line for line in body.splitlines() if line.strip()), "")
                return Typed(b, i == 0, first)
    return None


def hint(typed: Typed) -> str:
    return (f"'{typed.button.label}' is a button on an earlier message: \"{typed.message}\". Press it there; "
            "typing a button's words works only on your newest message with buttons.")
