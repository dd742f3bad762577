"""Acting on alerts: the Acknowledge / Resolve / Call police buttons, and listing alerts."""

from __future__ import annotations

from bot import escalation, words
from bot.messages import Inbound, Outbound
from bot.model import Person, Role
from bot.registry import button, command, home
from bot.unit import Tx


def _alert_for(tx: Tx, person: Person, msg: Inbound, arg: str) -> escalation.Alert | None:
    n = words.number(arg)
    alert = escalation.load(tx.conn, n) if n is not None else None
    if alert is None or not escalation.may_handle(tx, alert, person):
        tx.reply(msg, Outbound("That alert is not one you can act on."), person=person)
        return None
    return alert


@button("alert.ack", permission="ack_alert")
def ack(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    alert = _alert_for(tx, person, msg, arg)
    if alert is None:
        return
    won, alert = escalation.ack(tx, alert.id, person)
    if not won and alert is not None:
        if alert.status == "resolved":
            tx.reply(msg, Outbound("That alert is already resolved."), person=person)
        else:
            who = tx.person(alert.acked_by)
            tx.reply(msg, Outbound(f"Already acknowledged by {who.name if who else alert.acked_by} at "
                                   f"{tx.hhmm(alert.acked_at or 0)}."), person=person)


@button("alert.resolve", permission="resolve_alert")
def resolve(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    alert = _alert_for(tx, person, msg, arg)
    if alert and escalation.resolve(tx, alert.id, person) is None:
        tx.reply(msg, Outbound("That alert is already resolved."), person=person)


@button("alert.police", permission="ack_alert")
def police(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    alert = _alert_for(tx, person, msg, arg)
    if alert is None:
        return
    escalation.police(tx, alert.id, person)
    branch = tx.directory.service.branches.get(alert.branch or "")
    numbers = [c for c in branch.contacts if "police" in c.name.lower()] if branch else []
    extra = "".join(f"\n{c.name}: {c.phone}" for c in numbers)
    tx.reply(msg, Outbound("Call 999 now and give them this address:\n" + _where(tx, alert) + extra
                           + "\nWhen you have called, press Police called on the alert so everyone knows."),
             person=person)


def _where(tx: Tx, alert: escalation.Alert) -> str:
    """What to tell the police: the branch and its address from the service file, and who it came from."""
    branch = tx.directory.service.branches.get(alert.branch or "")
    place = (f"{branch.name}, {branch.address}" if branch.address else f"{branch.name} (no address in the service"
             " file: give the street and town)") if branch else "no branch on record: ask the person where they are"
    sender = tx.person(alert.person)
    who = f"\nAlert #{alert.id} ({alert.title})" + (f" from {sender.name}" + (f", {sender.phone}" if sender.phone else "")
                                                  if sender else "")
    spot = next((line for line in alert.details.splitlines() if line.startswith("Where / what:")), "")
    return place + (f"\n{spot}" if spot else "") + who


@button("alert.police_called", permission="ack_alert")
def police_called(tx: Tx, person: Person, msg: Inbound, arg: str) -> None:
    alert = _alert_for(tx, person, msg, arg)
    if alert is not None:
        escalation.police_called(tx, alert.id, person)
        tx.reply(msg, Outbound("Thank you - the alert now shows that the police have been called."), person=person)


@command("alerts", permission="list_alerts", help="live alerts at your branches", urgent=True)
def list_alerts(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    rows = tx.conn.execute("SELECT id FROM alerts WHERE status!='resolved' ORDER BY id").fetchall()
    alerts = [a for r in rows if (a := escalation.load(tx.conn, r[0]))]
    if person.role != Role.admin:
        alerts = [a for a in alerts if a.branch == person.branch]
    alerts = [a for a in alerts if person.key not in escalation.subjects(tx.conn, a)]  # never one about them
    if not alerts:
        tx.reply(msg, Outbound("No live alerts."), person=person)
        return
    lines = [f"#{a.id} {tx.hhmm(a.created_at)} [{a.severity.value}] {a.title} - {a.status}"
             f" ({tx.directory.branch_name(a.branch)})" for a in alerts]
    tx.reply(msg, Outbound("Live alerts:\n" + "\n".join(lines)), person=person)


@command("timeline", permission="list_alerts", help="the timeline of an alert", usage="timeline <alert number>")
def show_timeline(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    n = words.number(args)
    alert = escalation.load(tx.conn, n) if n is not None else None
    if alert is None or (person.role != Role.admin and alert.branch != person.branch) or \
            person.key in escalation.subjects(tx.conn, alert):  # never the timeline of an alert about them
        tx.reply(msg, Outbound("No such alert at your branches. Try: timeline 12"), person=person)
        return
    tx.reply(msg, Outbound(format_timeline(tx, alert)), person=person)


def format_timeline(tx: Tx, alert: escalation.Alert) -> str:
    lines = [f"Alert #{alert.id}: {alert.title} ({alert.status})"]
    for e in escalation.timeline(tx.conn, alert.id):
        lines.append(f"{tx.local(e['at']).strftime('%H:%M:%S')}  {e['text']}")
    return "\n".join(lines)


@home
def alerts_home(tx: Tx, person: Person) -> list[str]:
    """Live alerts this person may act on (never their own: a codeword sender sees only the cover reply)."""
    rows = tx.conn.execute("SELECT id FROM alerts WHERE status!='resolved' AND person!=? ORDER BY id",
                           (person.key,)).fetchall()
    lines = []
    for r in rows:
        alert = escalation.load(tx.conn, r[0])
        if alert is None or not escalation.may_handle(tx, alert, person):
            continue
        notified = escalation.was_notified(tx.conn, alert.id, person.key)
        if person.role == Role.duty_manager and alert.branch != person.branch and not notified:
            continue  # another branch's alert that nobody asked them to handle
        lines.append(f"Live alert #{alert.id} {tx.hhmm(alert.created_at)} [{alert.severity.value}] {alert.title}"
                     f" - {alert.status} ({tx.directory.branch_name(alert.branch)})")
    return lines
