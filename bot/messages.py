"""Platform-neutral messages: what comes in from a transport, and what goes out.

Text is always plain: transports escape it for their markup, so nothing a user
types can become a link, a mention or formatting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .model import Priority

DRILL = "[DRILL] "  # the one mark on everything an exercise sends (raised in drill mode)


def drill_mark(drill: bool | int | None) -> str:
    """DRILL when the thing was raised as an exercise, else nothing."""
    return DRILL if drill else ""


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # e.g. "alert.ack"
    arg: str = ""  # e.g. the alert id

    @property
    def data(self) -> str:
        """Compact callback data (Telegram allows 64 bytes)."""
        return f"{self.action}|{self.arg}"

    @staticmethod
    def parse(data: str) -> tuple[str, str]:
        action, _, arg = data.partition("|")
        return action, arg


def buttons_to_json(buttons: tuple[Button, ...] | list[Button]) -> str:
    return json.dumps([[b.label, b.action, b.arg] for b in buttons])


def buttons_from_json(raw: str | None) -> tuple[Button, ...]:
    return tuple(Button(*b) for b in json.loads(raw or "[]"))


@dataclass(frozen=True)
class Inbound:
    """One thing a person did: a message, a button press, or a submitted form."""

    platform: str  # console | telegram | slack
    event_id: str  # the platform's id, for at-most-once intake
    user_id: str  # the platform's id of the person
    chat_id: str  # where a reply goes
    text: str = ""
    action: str | None = None  # button press
    arg: str = ""
    form: str | None = None  # submitted form name
    values: dict[str, str] = field(default_factory=dict)  # submitted form values
    is_group: bool = False
    display_name: str = ""

    @property
    def key(self) -> str:
        """platform:event_id, the intake's dedupe key (a repeat of it acts once)."""
        return f"{self.platform}:{self.event_id}"


@dataclass(frozen=True)
class Outbound:
    text: str
    buttons: tuple[Button, ...] = ()
    priority: Priority = Priority.reply
    card: str | None = None  # a live card: every copy is edited when it changes
    form: str | None = None  # ask the transport to open this form (e.g. a Slack modal)
    form_ref: str = ""
    ephemeral: bool = False  # Slack: only the user sees it (neutral replies in channels)
    attachment: str | None = None  # path of a file (e.g. a PNG chart) to attach


@dataclass(frozen=True)
class Delivery:
    """An outbox row as a transport sees it."""

    id: int
    kind: str  # send | edit
    platform: str
    chat_id: str
    user_id: str
    text: str
    buttons: tuple[Button, ...]
    priority: int
    message_ref: str | None = None  # for edits: the platform id of the message to change
    form: str | None = None
    form_ref: str = ""
    ephemeral: bool = False
    attachment: str | None = None
    live: bool = False  # a live card: it will be edited, so every part of a split copy must stay truthful
    in_doubt: bool = False  # claimed by a process that died: it may have arrived already
