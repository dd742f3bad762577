"""A digest: several alarm cards waiting for the same chat, sent as one message.

Telegram lets a bot send about one message a second to a chat. Twenty alerts raised in
the same second would reach a duty manager over twenty seconds; one message that lists
every waiting alert, each with its own buttons, reaches them at once. A later change to
any of its alerts edits the whole digest (every member is re-rendered as it is now).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .messages import Button

# Why short members: Telegram lets one chat see ~1 message a second, so the cards per message set how
# many of 200 simultaneous alarms a manager can see within 10 s (bench/alert_latency.py prints the
# limit). A card's status line is its longest (57 of a codeword card's 172 characters); a digest
# says it in 41, so 16 waiting codeword cards fit one message instead of 15.
_WAITING = re.compile(r"^Status: waiting for someone to acknowledge \((tier \d+ of \d+)\)$", re.MULTILINE)
MAX_CARDS = 16  # up to 3 buttons each: under Telegram's 100 per keyboard and Slack's 50 blocks
MAX_TEXT = 3000  # characters: one Telegram message (4,096) with room for the cards to grow when they change
MAX_CARD_TEXT = 1200  # a longer card goes on its own (it may need several messages anyway)
RULE = "- - - - -"

Member = tuple[int | None, str, tuple[Button, ...]]  # alert id, card text, card buttons


def tag(alert_id: int | None, index: int) -> str:
    return f"#{alert_id}" if alert_id else f"({index})"


def member_text(text: str) -> str:
    """A card as a digest shows it: the same lines, the waiting status said briefly."""
    return _WAITING.sub(r"Waiting to be acknowledged (\1)", text)


def compose(members: list[Member]) -> tuple[str, tuple[Button, ...]]:
    """The digest's text and buttons; each button names the alert it acts on."""
    lines = [f"{len(members)} alerts at once. Each has its own buttons below."]
    buttons: list[Button] = []
    for i, (alert_id, text, card_buttons) in enumerate(members, start=1):
        label = tag(alert_id, i)
        lines += [RULE, f"{label}: {member_text(text)}"]
        buttons += [Button(f"{b.label} {label}", b.action, b.arg) for b in card_buttons]
    return "\n".join(lines), tuple(buttons)


def room(texts: Iterable[str]) -> int:
    """How many of these cards, taken in order, one digest message holds."""
    count = size = 0
    for text in texts:
        size += len(member_text(text)) + 16
        if count == MAX_CARDS or size > MAX_TEXT:
            break
        count += 1
    return count


def fits(texts: list[str]) -> bool:
    return room(texts) == len(texts)
