"""People on the floor: on shift / off shift (more of the roster to come)."""

from __future__ import annotations

from bot.messages import Inbound, Outbound
from bot.model import Person
from bot.registry import command
from bot.unit import Tx


def set_shift(tx: Tx, person: Person, on: bool) -> None:
    tx.conn.execute("INSERT INTO shifts(person, on_shift, since) VALUES(?,?,?) ON CONFLICT(person) DO UPDATE"
                    " SET on_shift=excluded.on_shift, since=excluded.since", (person.key, int(on), tx.now))


@command("on", "off", "shift", "onshift", "offshift", permission="set_shift",
         help="say you are on or off shift (alerts reach staff on shift)", usage="on shift | off shift")
def shift(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    word = msg.text.strip().lower().lstrip("/")
    on = word.startswith("on") or args.strip().lower() == "on"
    if word.startswith(("on", "off")) and args.strip().lower() not in ("", "shift"):
        tx.reply(msg, Outbound("Say 'on shift' or 'off shift'."), person=person)
        return
    set_shift(tx, person, on)
    branch = tx.directory.branch_name(person.branch)
    tx.reply(msg, Outbound(f"You are {'on' if on else 'off'} shift at {branch}."), person=person)
