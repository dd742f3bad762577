"""help: what this person may do here, in their role."""

from __future__ import annotations

from bot.messages import Inbound, Outbound
from bot.model import Person
from bot.permissions import allowed
from bot.registry import COMMANDS, command
from bot.unit import Tx


def commands_for(person: Person) -> list[tuple[str, str]]:
    """(command, usage) pairs the person may use; also feeds Telegram's command menu."""
    seen: dict[str, str] = {}
    for cmd in COMMANDS.values():
        if cmd.name not in seen and allowed(person, cmd.permission) and cmd.help:
            seen[cmd.name] = cmd.usage or cmd.name
    return sorted(seen.items())


@command("help", "start", "menu", permission="raise_alert", help="what you can do here")
def show_help(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    lines = [f"Hello {person.name}. You can send:"]
    for name, usage in commands_for(person):
        lines.append(f"- {usage}: {COMMANDS[name].help}")
    tx.reply(msg, Outbound("\n".join(lines)), person=person)
