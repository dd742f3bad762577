"""A digest: several alarm cards waiting for the same chat, sent as one message.

Telegram lets a bot send about one message a second to a chat. Twenty alerts raised in
the same second would reach a duty manager over twenty seconds; one message that lists
every waiting alert, each with its own buttons, reaches them at once. A later change to
any of its alerts edits the whole digest (every member is re-rendered as it is now).
"""

from __future__ import annotations

from .messages import Button

MAX_CARDS = 16  # up to 3 buttons each: under Telegram's 100 per keyboard and Slack's 50 blocks
MAX_TEXT = 3000  # characters: one Telegram message (4,096) with room for the cards to grow when they change
MAX_CARD_TEXT = 1200  # a longer card goes on its own (it may need several messages anyway)
RULE = "- - - - -"

Member = tuple[int | None, str, tuple[Button, ...]]  # alert id, card text, card buttons


def tag(alert_id: int | None, index: int) -> str:
    return f"#{alert_id}" if alert_id else f"({index})"


def compose(members: list[Member]) -> tuple[str, tuple[Button, ...]]:
    """The digest's text and buttons; each button names the alert it acts on."""
    lines = [f"{len(members)} alerts at once. Each has its own buttons below."]
    buttons: list[Button] = []
    for i, (alert_id, text, card_buttons) in enumerate(members, start=1):
        label = tag(alert_id, i)
        lines += [RULE, f"{label}: {text}"]
        buttons += [Button(f"{b.label} {label}", b.action, b.arg) for b in card_buttons]
    return "\n".join(lines), tuple(buttons)


def fits(texts: list[str]) -> bool:
    return len(texts) <= MAX_CARDS and sum(len(t) + 16 for t in texts) <= MAX_TEXT
