"""help: what this person may do here, in their role (the whole list, when asked for)."""

from __future__ import annotations

from bot.messages import Inbound, Outbound
from bot.model import Person
from bot.registry import command
from bot.unit import Tx
from bot.words import key

__all__ = ["show_help"]


@command("help", "start", "menu", permission="raise_alert", help="what you can do here")
def show_help(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    lines = [f"Hello {person.name}. You can send:"]
    for name, usage in tx.app.commands_for(person):
        lines.append(f"- {usage}: {tx.app.commands[key(name)].help}")
    tx.reply(msg, Outbound("\n".join(lines)), person=person)
