"""The ladder engine: notify a tier, wait for an ack, re-notify, climb.

An alert snapshots its ladder when it starts, so editing the book never changes a
live alert. Each step is one wake-up row; the climb claims it before acting, so a
restart, a duplicate job or a second instance climbs once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from .directory import DutyNow
from .messages import Button, Outbound, drill_mark
from .model import Ladder, Person, Priority, Role, Severity
from .registry import wakeup
from .store import reserve_key
from .unit import Tx
from .words import duration

CLIMB = "alert.climb"


class Kind(StrEnum):
    """What can happen to an alert: the timeline's event kinds (the card is drawn from some of them)."""

    RAISED = "raised"
    GAP = "gap"  # a tier found nobody of a kind (no duty manager on the rota)
    FALLBACK = "fallback"
    NOTIFIED = "notified"
    UNREACHABLE = "unreachable"
    REPEAT = "repeat"
    CLIMBED = "climbed"
    EXHAUSTED = "exhausted"
    ACKED = "acked"
    CONFIRMED = "confirmed"  # the discreet ack reply went to the sender
    RESOLVED = "resolved"
    POLICE_CALLING = "police"  # someone pressed "Call police?": they say they are calling, not yet confirmed
    POLICE_CALLED = "police_called"  # they confirmed the call was made
    SAFE = "safe"  # a lone worker checked in after an escalation
    DURESS = "duress"
    BACKUP = "backup"
    DELIVERY_FAILED = "delivery_failed"
    OUTAGE = "outage"  # a platform has failed alarm delivery for a while
    OUTAGE_OVER = "outage_over"
    PRESSED = "pressed"  # a panic button pressed again: it joins the alarm it raised (handlers/trigger.py)
    PHONE = "phone"  # the phone rung: texted, calling, delivered, throttled, no answer (handlers/phone.py)


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    ref: str
    severity: Severity
    person: str | None
    branch: str | None
    title: str
    details: str
    status: str
    ladder: Ladder
    tier: int
    repeats: int
    ack_reply: str | None
    reply_platform: str | None
    reply_chat: str | None
    drill: bool
    created_at: float
    acked_by: str | None
    acked_at: float | None
    resolved_by: str | None
    resolved_at: float | None

    @property
    def card(self) -> str:
        return f"alert:{self.id}"

    @staticmethod
    def from_row(r: sqlite3.Row) -> Alert:
        return Alert(
            id=r["id"], kind=r["kind"], ref=r["ref"], severity=Severity(r["severity"]), person=r["person"],
            branch=r["branch"], title=r["title"], details=r["details"], status=r["status"],
            ladder=_ladder(r["ladder"]), tier=r["tier"], repeats=r["repeats"],
            ack_reply=r["ack_reply"], reply_platform=r["reply_platform"], reply_chat=r["reply_chat"],
            drill=bool(r["drill"]), created_at=r["created_at"], acked_by=r["acked_by"], acked_at=r["acked_at"],
            resolved_by=r["resolved_by"], resolved_at=r["resolved_at"],
        )


@lru_cache(maxsize=256)
def _ladder(snapshot: str) -> Ladder:
    """Parse a ladder snapshot; snapshots repeat (one per ladder in the book), so parse each once."""
    return Ladder.model_validate(json.loads(snapshot))


@lru_cache(maxsize=256)
def _snapshot(ladder: Ladder) -> str:
    return ladder.model_dump_json(by_alias=True)


def load(conn: sqlite3.Connection, alert_id: int) -> Alert | None:
    row = conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
    return Alert.from_row(row) if row else None


def event(tx: Tx, alert_id: int, kind: Kind | str, text: str, actor: str | None = None,
          meta: dict | None = None) -> None:
    """Add to an alert's timeline; an unknown kind is a programming error, refused here. `meta`: facts
    others read back (an outage's platform), kept as data so nobody parses the text."""
    if kind in (Kind.POLICE_CALLING, Kind.POLICE_CALLED):
        tx.new_alerts.pop(alert_id, None)  # its timeline is no longer known without reading it
    tx.conn.execute("INSERT INTO alert_events(alert_id, at, kind, actor, text, meta) VALUES(?,?,?,?,?,?)",
                    (alert_id, tx.now, Kind(kind).value, actor, text, json.dumps(meta) if meta else None))


def event_meta(row: sqlite3.Row) -> dict:
    """The facts recorded with a timeline event ({} when none)."""
    return json.loads(row["meta"]) if row["meta"] else {}


def recipients(conn: sqlite3.Connection, alert_id: int) -> list[str]:
    """Keys of everyone notified of an alert, in the order they were first notified."""
    return [r[0] for r in conn.execute("SELECT person FROM alert_recipients WHERE alert_id=? ORDER BY rowid",
                                       (alert_id,))]


def was_notified(conn: sqlite3.Connection, alert_id: int, person_key: str) -> bool:
    return conn.execute("SELECT 1 FROM alert_recipients WHERE alert_id=? AND person=?",
                        (alert_id, person_key)).fetchone() is not None


def timeline(conn: sqlite3.Connection, alert_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM alert_events WHERE alert_id=? ORDER BY id", (alert_id,)).fetchall()


def raise_alert(
    tx: Tx,
    *,
    kind: str,
    severity: Severity,
    ladder: Ladder,
    title: str,
    person: Person | None,
    branch: str | None,
    details: str = "",
    ref: str = "",
    ack_reply: str | None = None,
    reply_to: tuple[str, str] | None = None,
    drill: bool | None = None,
    about: tuple[str, ...] = (),
) -> Alert:
    """Record an alert and notify its first tier at once.

    `drill`: what the thing this alert belongs to was when IT was raised (a lockdown, a lone
    session, a backup request); None only for an alert that is itself the raised thing (a
    codeword), which takes the branch's drill mode now. A drill started later never relabels it.
    `about`: people the alert is about besides `person` (a roll call's silent people): like
    `person`, they are never notified of it and may not acknowledge or resolve it.
    """
    # asked before the drill check's read and answered with it (PostgreSQL: one wait, not four): the alert's
    # number and who is on duty for its first tier
    number = reserve_key(tx.conn, "alerts")
    asked = tx.directory.ask(tx.conn, branch, tx.now) if needs_duty(ladder.tiers[0].notify) else None
    if drill is None:
        drill = is_drill(tx, branch)
    reserved = number()
    cur = tx.conn.execute(
        "INSERT INTO alerts(id, kind, ref, severity, person, branch, title, details, ladder, ack_reply,"
        " reply_platform, reply_chat, drill, created_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (reserved, kind, ref, severity.value, person.key if person else None, branch, title, details,
         _snapshot(ladder), ack_reply, *(reply_to or (None, None)), int(drill), tx.now),
    )
    alert = Alert(  # as stored, not read back (RETURNING * costs SQLite 3x, and PostgreSQL a second wait)
        id=int(reserved or cur.lastrowid or 0), kind=kind, ref=ref, severity=severity, person=person.key if person else None,
        branch=branch, title=title, details=details, status="open", ladder=_ladder(_snapshot(ladder)), tier=0,
        repeats=0, ack_reply=ack_reply, reply_platform=reply_to[0] if reply_to else None,
        reply_chat=reply_to[1] if reply_to else None, drill=bool(drill), created_at=tx.now, acked_by=None,
        acked_at=None, resolved_by=None, resolved_at=None)
    alert_id = alert.id
    tx.new_alerts[alert_id] = frozenset(about)  # nobody else can have added to it: no need to read it back
    for key in dict.fromkeys(about):
        tx.conn.execute("INSERT INTO alert_about(alert_id, person) VALUES(?,?) ON CONFLICT DO NOTHING",
                        (alert_id, key))
    who = person.name if person else "someone"
    event(tx, alert_id, Kind.RAISED, f"{title} raised by {who} at {tx.directory.branch_name(branch)}",
          person.key if person else None)
    _notify_tier(tx, alert, 0, repeat=0, new=True, asked=asked)
    return alert


def needs_duty(targets: tuple[str, ...]) -> bool:
    """Does reaching these targets ask the store who is on duty (cover, shift statements)?"""
    return "on-shift" in targets or "duty-manager" in targets


def is_drill(tx: Tx, branch: str | None) -> bool:
    """Is the branch in drill mode NOW: only for deciding what something being raised now is."""
    return any(check(tx, branch) for check in tx.app.drill_check)


def subjects(conn: sqlite3.Connection, alert: Alert) -> set[str]:
    """Everyone an alert is about: they never receive it and cannot act on it."""
    keys = {r[0] for r in conn.execute("SELECT person FROM alert_about WHERE alert_id=?", (alert.id,))}
    return keys | ({alert.person} if alert.person else set())


def _resolve_targets(tx: Tx, alert: Alert, targets: tuple[str, ...],
                     asked: DutyNow | None = None) -> tuple[list[Person], list[str]]:
    """People a tier reaches (never the person the alert is about, never volunteers) and any gaps. `asked`:
    the store's duty answers for the alert's branch now, asked ahead (raise_alert)."""
    d = tx.directory
    keys: list[str] = []
    gaps: list[str] = []
    for t in targets:
        if t == "on-shift":
            found = d.on_shift(tx.conn, alert.branch, tx.local(), asked)
        elif t == "duty-manager":
            found = d.duty_managers(tx.conn, alert.branch, tx.local(), asked)
            if not found:
                gaps.append(f"no duty manager on the rota for {d.branch_name(alert.branch)} now")
        elif t.startswith("role:"):
            found = [p.key for p in d.with_role(Role(t[5:]), alert.branch)]
        else:
            found = [t[7:]]
        keys += [k for k in found if k not in keys]
    about = subjects(tx.conn, alert) if alert.id not in tx.new_alerts else \
        tx.new_alerts[alert.id] | ({alert.person} if alert.person else set())
    people = [p for k in keys if (p := d.person(k)) and k not in about and p.role != Role.volunteer]
    return people, gaps


def _notify_tier(tx: Tx, alert: Alert, tier: int, repeat: int, new: bool = False,
                 asked: DutyNow | None = None) -> None:
    """Notify a tier's people and wait for it. `new`: the alert was raised just now (its card is new)."""
    step = alert.ladder.tiers[tier]
    # asked before the first of them is read, so PostgreSQL answers them in one wait: who is on duty, the alert
    # at its new tier and, climbing, who has a copy of its card already (nothing here writes what they read)
    if asked is None and needs_duty(step.notify):
        asked = tx.directory.ask(tx.conn, alert.branch, tx.now)
    moved = None
    if (alert.tier, alert.repeats) != (tier, repeat):  # a new alert is at tier 0 already (raise_alert)
        moved = tx.conn.execute("UPDATE alerts SET tier=?, repeats=? WHERE id=? RETURNING *", (tier, repeat, alert.id))
    copies = None
    if tier > 0 and not repeat:
        copies = tx.conn.execute("SELECT DISTINCT person FROM outbox WHERE card=? AND kind='send' AND status IN"
                                 " ('pending','sending','sent')", (alert.card,))
    people, gaps = _resolve_targets(tx, alert, step.notify, asked)
    for gap in gaps:
        event(tx, alert.id, Kind.GAP, gap)
    if not people:
        people, _ = _resolve_targets(tx, alert, alert.ladder.fallback, asked)
        event(tx, alert.id, Kind.FALLBACK, f"nobody to notify at tier {tier + 1}; using the fallback "
              f"({', '.join(alert.ladder.fallback)})")
    if moved is not None:
        alert = Alert.from_row(moved.fetchone())
    tx.set_card(alert.card, render(tx, alert), new=new)
    card = Outbound("", priority=Priority.alarm, card=alert.card)
    label = f"tier {tier + 1}" + (f", repeat {repeat}" if repeat else "")
    tier_people = list(people)  # the phone rung reaches all of them, copies of the card or not
    if copies is not None:
        # climbing: people whose copy arrived or is still on its way see it edited instead; people
        # of earlier tiers whose copies never arrived (failed on every platform) get a new one
        already = {r[0] for r in copies}
        people = [p for p in people if p.key not in already]
    for p in people:
        tx.conn.execute("INSERT INTO alert_recipients(alert_id, person) VALUES(?,?)"
                        " ON CONFLICT DO NOTHING", (alert.id, p.key))
        platform = tx.send(p, card, alert_id=alert.id, tag="notify")
        if platform:
            event(tx, alert.id, Kind.NOTIFIED, f"notified {p.name} via {platform} ({label})")
        else:
            event(tx, alert.id, Kind.UNREACHABLE, f"{p.name} has no chat account the bot can reach ({label})")
    if not people:
        event(tx, alert.id, Kind.UNREACHABLE, f"nobody could be notified ({label})")
    tx.wake(CLIMB, alert.id, tx.now + step.wait)
    for hook in tx.app.on_tier_notified:  # the phone rung (sms: / call: on the tier)
        hook(tx, alert, tier, repeat, tier_people)


def climb_at_once(tx: Tx, alert: Alert, why: str) -> bool:
    """The next tier now, not after the wait: a rung that cannot be answered (busy, throttled, a permanent
    failure) must not hold the ladder. False on the last tier (its own wait and repeats go on)."""
    if alert.status != "open" or alert.tier + 1 >= len(alert.ladder.tiers):
        return False
    tx.cancel_wakeups(CLIMB, alert.id)
    event(tx, alert.id, Kind.CLIMBED, f"{why}; climbing to tier {alert.tier + 2} at once")
    _notify_tier(tx, alert, alert.tier + 1, 0)
    return True


@wakeup(CLIMB)
def climb(tx: Tx, ref: str) -> None:
    """No ack within the tier's wait: repeat the tier or go up one."""
    alert = load(tx.conn, int(ref))
    if alert is None or alert.status != "open":
        return
    step = alert.ladder.tiers[alert.tier]
    if step.repeat == "forever" or alert.repeats < step.repeat:
        event(tx, alert.id, Kind.REPEAT, f"no acknowledgement after {duration(step.wait)}; notifying tier "
              f"{alert.tier + 1} again")
        _notify_tier(tx, alert, alert.tier, alert.repeats + 1)
    elif alert.tier + 1 < len(alert.ladder.tiers):
        event(tx, alert.id, Kind.CLIMBED, f"no acknowledgement after {duration(step.wait)}; climbing to tier "
              f"{alert.tier + 2}")
        _notify_tier(tx, alert, alert.tier + 1, 0)
    else:
        event(tx, alert.id, Kind.EXHAUSTED, "the ladder is finished and nobody has acknowledged")


def may_handle(tx: Tx, alert: Alert, person: Person) -> bool:
    """Notified people and managers may act on an alert; volunteers and the people it is about never."""
    if person.role == Role.volunteer or person.key in subjects(tx.conn, alert):
        return False
    if person.may(Role.duty_manager):
        return True
    return was_notified(tx.conn, alert.id, person.key)


def _stop_climbing(tx: Tx, alert: Alert) -> None:
    tx.cancel_wakeups(CLIMB, alert.id)
    tx.cancel_queued(alert.id, "notify")


def ack(tx: Tx, alert_id: int, person: Person) -> tuple[bool, Alert | None]:
    """First ack wins; returns (won, alert as it now stands)."""
    won = tx.conn.execute("UPDATE alerts SET status='acked', acked_by=?, acked_at=? WHERE id=? AND status='open'",
                          (person.key, tx.now, alert_id)).rowcount == 1
    alert = load(tx.conn, alert_id)
    if alert is None or not won:
        return False, alert
    _stop_climbing(tx, alert)
    event(tx, alert.id, Kind.ACKED, f"acknowledged by {person.name}", person.key)
    tx.set_card(alert.card, render(tx, alert))
    _confirm_to_sender(tx, alert)
    return True, alert


def _confirm_to_sender(tx: Tx, alert: Alert) -> None:
    if alert.ack_reply and alert.reply_platform and alert.reply_chat:
        sender = tx.person(alert.person)
        addr = tx.ctx.address_of(alert.reply_platform, sender) if sender else None
        user = addr[2] if addr else ""
        tx.send_to((alert.reply_platform, alert.reply_chat, user), Outbound(alert.ack_reply, priority=Priority.alarm),
                   person=alert.person, alert_id=alert.id, tag="confirm")
        event(tx, alert.id, Kind.CONFIRMED, "discreet confirmation sent to the sender")


def resolve(tx: Tx, alert_id: int, person: Person | None, note: str = "", *,
            tell_sender: bool = True) -> Alert | None:
    alert = load(tx.conn, alert_id)
    if alert is None or alert.status == "resolved":
        return None
    was_open = alert.status == "open"
    tx.conn.execute("UPDATE alerts SET status='resolved', resolved_by=?, resolved_at=?,"
                    " acked_by=COALESCE(acked_by, ?), acked_at=COALESCE(acked_at, ?) WHERE id=?",
                    (person.key if person else None, tx.now, person.key if person else None, tx.now, alert_id))
    alert = load(tx.conn, alert_id)
    assert alert is not None
    _stop_climbing(tx, alert)
    who = person.name if person else "the system"
    event(tx, alert.id, Kind.RESOLVED, f"resolved by {who}" + (f": {note}" if note else ""),
          person.key if person else None)
    tx.set_card(alert.card, render(tx, alert))
    if was_open and tell_sender:
        _confirm_to_sender(tx, alert)
    for hook in tx.app.on_alert_resolved:
        hook(tx, alert)
    return alert


def set_details(tx: Tx, alert_id: int, details: str, kind: Kind, text: str) -> Alert | None:
    """Change the line under an alert's title (a panic button pressed again), note why on its timeline,
    and redraw its card everywhere it was sent."""
    tx.conn.execute("UPDATE alerts SET details=? WHERE id=?", (details, alert_id))
    event(tx, alert_id, kind, text)
    alert = load(tx.conn, alert_id)
    if alert is not None:
        tx.set_card(alert.card, render(tx, alert))
    return alert


def render(tx: Tx, alert: Alert) -> Outbound:
    """The alert card everyone notified sees, in its current state."""
    sender = tx.person(alert.person)
    lines = [
        drill_mark(alert.drill) + f"[{alert.severity.value.upper()}] {alert.title} (alert #{alert.id})",
        (f"From: {sender.name}" + (f" ({sender.phone})" if sender.phone else "") + ", " if sender
         else "Where: ")  # no person raised it (a panic button): the line under the title says which device
        + tx.directory.branch_name(alert.branch),
        f"Raised: {tx.hhmm(alert.created_at)}",
    ]
    if alert.details:
        lines.append(alert.details)
    if alert.status == "open":
        lines.append(f"Status: waiting for someone to acknowledge (tier {alert.tier + 1} of "
                     f"{len(alert.ladder.tiers)})")
    if alert.acked_by:
        acker = tx.person(alert.acked_by)
        lines.append(f"Acknowledged by {acker.name if acker else alert.acked_by} at {tx.hhmm(alert.acked_at or 0)}")
    calling, called = _police(tx, alert.id)
    if called:
        who = tx.person(called["actor"])
        lines.append(f"Police called by {who.name if who else called['actor']} at {tx.hhmm(called['at'])}")
    elif calling:
        who = tx.person(calling["actor"])
        lines.append(f"{who.name if who else calling['actor']} is calling the police (pressed at "
                     f"{tx.hhmm(calling['at'])}; not yet confirmed)")
    if alert.status == "resolved":
        resolver = tx.person(alert.resolved_by)
        lines.append(f"Resolved by {resolver.name if resolver else 'the system'} at {tx.hhmm(alert.resolved_at or 0)}")
        return Outbound("\n".join(lines), priority=Priority.alarm)
    buttons = []
    if alert.status == "open":
        buttons.append(Button("Acknowledge", "alert.ack", str(alert.id)))
    buttons.append(Button("Resolve", "alert.resolve", str(alert.id)))
    if alert.severity.urgent and not calling and not called:
        buttons.append(Button("Call police?", "alert.police", str(alert.id)))
    elif calling and not called:
        buttons.append(Button("Police called", "alert.police_called", str(alert.id)))
    return Outbound("\n".join(lines), buttons=tuple(buttons), priority=Priority.alarm)


def _police(tx: Tx, alert_id: int) -> tuple[sqlite3.Row | None, sqlite3.Row | None]:
    """(first 'is calling' event, first 'called' event) of an alert."""
    if alert_id in tx.new_alerts:  # raised in this unit, and `event` forgets it once police are recorded
        return None, None
    rows = {r["kind"]: r for r in tx.conn.execute(
        "SELECT kind, actor, at FROM alert_events WHERE alert_id=? AND kind IN (?, ?) ORDER BY id DESC",
        (alert_id, Kind.POLICE_CALLING.value, Kind.POLICE_CALLED.value))}
    return rows.get(Kind.POLICE_CALLING.value), rows.get(Kind.POLICE_CALLED.value)


def police_called(tx: Tx, alert_id: int, person: Person) -> Alert | None:
    """Someone confirms the police have been called: only now does the card say so."""
    alert = load(tx.conn, alert_id)
    if alert is None or _police(tx, alert_id)[1] is not None:
        return alert
    event(tx, alert.id, Kind.POLICE_CALLED, f"{person.name} confirmed the police have been called", person.key)
    tx.set_card(alert.card, render(tx, alert))
    return alert


def police(tx: Tx, alert_id: int, person: Person) -> Alert | None:
    """Record that someone says they are calling the police (not that they have); it also takes ownership."""
    alert = load(tx.conn, alert_id)
    if alert is None or alert.status == "resolved":
        return alert
    event(tx, alert.id, Kind.POLICE_CALLING, f"{person.name} pressed Call police: calling now", person.key)
    if alert.status == "open":
        ack(tx, alert.id, person)
    else:
        tx.set_card(alert.card, render(tx, alert))
    return load(tx.conn, alert_id)
