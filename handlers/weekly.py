"""The admins' weekly note: Monday 09:00 local, one message saying what needs them this week.

Each capability adds its lines through the App's `weekly_lines` port (bot/compose.py): who the
phone rung cannot reach yet (handlers/phone.py), panic buttons that are silent or cannot be watched
(handlers/trigger.py). With nothing to say, no message; the next note is always due.
"""

from __future__ import annotations

from datetime import timedelta

from bot.messages import Outbound
from bot.model import Priority, Role
from bot.registry import wakeup
from bot.unit import Tx

WEEKLY = "weekly.note"


def next_monday_morning(tx: Tx) -> float:
    """09:00 local next Monday (today, if it is Monday before 09:00)."""
    local = tx.local()
    at = (local + timedelta(days=(7 - local.weekday()) % 7)).replace(hour=9, minute=0, second=0, microsecond=0)
    if at <= local:
        at = (at + timedelta(days=7)).replace(hour=9)
    return at.timestamp()


@wakeup(WEEKLY)
def weekly_note(tx: Tx, ref: str) -> None:
    lines = [line for lines_of in tx.app.weekly_lines for line in lines_of(tx)]
    if lines:
        text = "Weekly: what needs the admins this week\n" + "\n".join(f"- {line}" for line in lines)
        for p in tx.directory.people.values():
            if p.role == Role.admin:
                tx.send(p, Outbound(text, priority=Priority.report), tag="weekly")
    tx.wake(WEEKLY, "weekly", next_monday_morning(tx))


def _ensure(tx: Tx) -> None:
    if tx.pending_wakeup(WEEKLY, "weekly") is None:
        tx.wake(WEEKLY, "weekly", next_monday_morning(tx))


async def schedule(engine) -> None:
    """Start-up: the next weekly note is due (a wake-up row, so a restart never loses it)."""
    await engine.perform(_ensure)
