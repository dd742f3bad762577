"""Telling people that a chat platform is failing to deliver alarms, and that it is back.

Never silent: while Telegram or Slack refuses messages, alarms keep trying (they never
give up), but a duty manager whose phone shows nothing does not know that. After the
outage notice time (a minute by default) each waiting alert's timeline records it and
every admin is told once, on another platform when they have one; when the platform
answers again, the timelines and the admins hear that too.
"""

from __future__ import annotations

from . import escalation
from .messages import Outbound
from .model import Priority, Role
from .store import outbox as rows
from .unit import Tx
from .words import duration

NAMES = {"telegram": "Telegram", "slack": "Slack", "console": "the console"}


def tell(tx: Tx, platform: str, since: float, over: bool) -> None:
    name = NAMES.get(platform, platform)
    admins = [p for p in tx.directory.people.values() if p.role == Role.admin]
    if over:
        alerts = list(dict.fromkeys(r["alert_id"] for r in tx.conn.execute(
            "SELECT alert_id, meta FROM alert_events WHERE kind='outage' AND at>=? ORDER BY id", (since,))
            if escalation.event_meta(r).get("platform") == platform))
        tx.conn.execute("UPDATE outages SET ended_at=? WHERE platform=? AND ended_at IS NULL", (tx.now, platform))
        for alert_id in alerts:
            escalation.event(tx, alert_id, escalation.Kind.OUTAGE_OVER, f"{name} is delivering again since {tx.hhmm(tx.now)};"
                             " the waiting messages are going out now", meta={"platform": platform})
        text = (f"{name} is back: messages are going out again. It failed from {tx.hhmm(since)} to "
                f"{tx.hhmm(tx.now)}; the waiting alarms are being delivered now.")
        for p in admins:  # where the first notice went (another platform), else the one that is back
            out = Outbound(text, priority=Priority.alarm)
            tx.send(p, out, tag=escalation.Kind.OUTAGE, exclude=(platform,)) or tx.send(p, out, tag="outage")
        return
    count, alerts = rows.waiting_alarms(tx.conn, platform)
    tx.conn.execute("INSERT INTO outages(platform, since, told_at) VALUES(?,?,?)", (platform, since, tx.now))
    for alert_id in alerts:
        escalation.event(tx, alert_id, escalation.Kind.OUTAGE, f"{name} has not accepted messages since {tx.hhmm(since)}:"
                         " this alert's messages keep trying; admins told", meta={"platform": platform})
    text = (f"Delivery problem: {name} has not accepted messages for {duration(tx.now - since)} (since "
            f"{tx.hhmm(since)}). {count} alarm message{'s' if count != 1 else ''} waiting"
            + (f", for {len(alerts)} alert{'s' if len(alerts) != 1 else ''}" if alerts else "")
            + f". They keep trying and go out as soon as {name} answers. Until then, phone the people on duty.")
    for p in admins:
        tx.send(p, Outbound(text, priority=Priority.alarm), tag=escalation.Kind.OUTAGE, exclude=(platform,))
