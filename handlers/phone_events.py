"""What the phone providers tell us, decided here: receipts, texts in, and how a call went.

The HTTP side (bot/transports/phone_http.py) checks the bearer token or Twilio's signature and
hands each callback over as a plain dict, in one transaction (`engine.perform(on_event, event)`);
it answers 200 only once that is stored, so the provider tries again otherwise, and a repeat acts
once (the intake's `inbound` table). Nothing here knows HTTP.

- A receipt goes on the alert's timeline. A text that cannot arrive (permanent, temporary or
  technical failure) climbs the ladder at once; a permanent failure also turns texts to that number
  off and tells the admins.
- A call: only the digit 1 acknowledges. Answered with no key, voicemail, busy, no answer and
  failed climb at once (the ladder does not wait for a call that cannot be answered).
- A text in: STOP / START, `1` (the alert most recently texted there; with two open it asks
  which), `ACK <n>`, `OK` (a lone worker's check-in), a codeword (an alert from that person, the
  cover reply by text). An unknown number's codeword is told to the admins, as in chat.
"""

from __future__ import annotations

import logging
import re
import sqlite3

from bot import escalation
from bot.escalation import Kind
from bot.messages import Inbound, Outbound
from bot.model import Person, Priority, Role
from bot.unit import Tx
from handlers import codeword, lone_working
from handlers.phone import e164, methods, set_state, tail

log = logging.getLogger(__name__)
FAILED = {"permanent-failure": "permanent failure", "temporary-failure": "temporary failure (phone off or out of "
          "signal)", "technical-failure": "technical failure at the provider"}
UNANSWERED = {"busy": "busy", "no-answer": "no answer", "failed": "the call failed", "canceled": "cancelled"}
ACK = re.compile(r"^\s*ack\s*#?\s*(\d+)\s*$", re.IGNORECASE)
TEST = "0"  # the outbox id of `saferbot phone test`'s text and call: there is none
HINT = "saferbot: reply 1 to acknowledge an alert, ACK and its number for one alert, or OK to check in."


def on_event(tx: Tx, event: dict) -> dict | None:
    """One provider callback, already authenticated; returns what a call should say, for `say`/`digits`."""
    kind = event.get("kind")
    if kind in ("receipt", "inbound", "call"):
        key = f"phone:{kind}:{event.get('id', '')}:{event.get('status', '')}"
        if not tx.first_time(key):
            return None  # a repeat of a callback already acted on
    if kind == "receipt":
        _receipt(tx, event)
    elif kind == "inbound":
        _text_in(tx, str(event.get("from", "")), str(event.get("text", "")), str(event.get("id", "")))
    elif kind == "say":
        return _say(tx, _send(tx.conn, event), test=str(event.get("row")) == TEST)
    elif kind == "digits" and str(event.get("row")) == TEST:
        return {"say": "Thank you: pressing 1 works. Goodbye."}
    elif kind == "digits":
        return _digits(tx, _send(tx.conn, event), str(event.get("digits", "")))
    elif kind == "call":
        _call_outcome(tx, _send(tx.conn, event), str(event.get("status", "")), str(event.get("answered_by", "")))
    return None


def _send(conn: sqlite3.Connection, event: dict) -> sqlite3.Row | None:
    """The phone_sends row of the outbox row a callback names (`row`, or Notify's reference outbox-<id>)."""
    ref = str(event.get("row") or event.get("reference") or "").removeprefix("outbox-")
    if not ref.isdigit():
        return None
    return conn.execute("SELECT * FROM phone_sends WHERE outbox_id=?", (int(ref),)).fetchone()


def _who(tx: Tx, row: sqlite3.Row) -> str:
    p = tx.person(row["person"])
    return p.name if p else row["person"]


def _climb(tx: Tx, row: sqlite3.Row, why: str) -> None:
    """Climb now, if the ladder is still where this text or call was made (else it has moved on already)."""
    alert = escalation.load(tx.conn, row["alert_id"]) if row["alert_id"] else None
    if alert and alert.status == "open" and (alert.tier, alert.repeats) == (row["tier"], row["repeats"]):
        escalation.climb_at_once(tx, alert, why)


def _admins(tx: Tx, text: str) -> None:
    for p in tx.directory.people.values():
        if p.role == Role.admin:
            tx.send(p, Outbound(text, priority=Priority.reply), tag="phone")


# --- texts: receipts ----------------------------------------------------------------------------

def _receipt(tx: Tx, event: dict) -> None:
    row = _send(tx.conn, event)
    status = str(event.get("status", ""))
    if row is None:
        code = str(event.get("reference") or "").removeprefix("outbox-")
        if status in FAILED and code.isdigit():
            _code_failed(tx, int(code), FAILED[status])
        return
    who = _who(tx, row)
    tx.conn.execute("UPDATE phone_sends SET status=?, outcome=? WHERE id=? AND status='queued'",
                    ("delivered" if status == "delivered" else "failed", status, row["id"]))
    if status == "delivered":
        escalation.event(tx, row["alert_id"], Kind.PHONE, f"text delivered to {who}'s phone")
        return
    if status not in FAILED:
        return  # sending / pending: nothing to tell yet
    escalation.event(tx, row["alert_id"], Kind.PHONE, f"text to {who}'s phone: {FAILED[status]}")
    if status == "permanent-failure":
        set_state(tx, row["person"], "sms", row["number"], "disabled", "permanent failure")
        _admins(tx, f"Texts to {who}'s number {tail(row['number'])} failed permanently (a wrong or disused "
                    f"number?), so texts to it are off. Check the roster's phone for them; they turn texts back "
                    f"on with phone verify.")
    _climb(tx, row, f"the text to {who} cannot arrive ({FAILED[status]})")


def _code_failed(tx: Tx, outbox_id: int, why: str) -> None:
    """A verification code that did not arrive: the person hears it in chat."""
    r = tx.conn.execute("SELECT user_id, tag FROM outbox WHERE id=?", (outbox_id,)).fetchone()
    person = tx.person(r["user_id"]) if r and r["tag"] == "phone-code" else None
    if person:
        tx.send(person, Outbound(f"The code could not be texted to your number ({why}). Check the number with an "
                                 "admin, then send phone verify again."), tag="phone")


# --- calls ------------------------------------------------------------------------------------

def _say(tx: Tx, row: sqlite3.Row | None, test: bool = False) -> dict:
    if test:  # saferbot phone test (bot/commands/phone.py): no alert behind it
        return {"say": "This is a saferbot test call. Alarm calls will sound like this.",
                "ask": "Press 1, as you would to acknowledge an alarm.", "after": "No key was pressed. Goodbye."}
    alert = escalation.load(tx.conn, row["alert_id"]) if row and row["alert_id"] else None
    if alert is None or alert.status != "open":
        return {"say": "This is saferbot. The alert has been acknowledged already. Goodbye."}
    from handlers.phone import words

    repeat = tx.conn.execute("SELECT in_doubt FROM outbox WHERE id=?", (row["outbox_id"],)).fetchone()
    say = words(tx, alert, "voice") + (" This call may be a repeat." if repeat and repeat[0] else "")
    return {"say": say, "ask": "Press 1 to acknowledge.", "after": "No key was pressed. Goodbye."}


def _digits(tx: Tx, row: sqlite3.Row | None, digits: str) -> dict:
    if row is None:
        return {"say": "Goodbye."}
    if digits != "1":
        tx.conn.execute("UPDATE phone_sends SET outcome='wrong key' WHERE id=?", (row["id"],))
        return {"say": "Only 1 acknowledges. Goodbye."}
    person = tx.person(row["person"])
    alert = escalation.load(tx.conn, row["alert_id"])
    if person is None or alert is None or not escalation.may_handle(tx, alert, person):
        return {"say": "Goodbye."}
    tx.conn.execute("UPDATE phone_sends SET status='acked', outcome='pressed 1' WHERE id=?", (row["id"],))
    won, alert = escalation.ack(tx, alert.id, person)
    if won:
        escalation.event(tx, alert.id if alert else row["alert_id"], Kind.PHONE, f"{person.name} pressed 1 on the call")
        return {"say": "Acknowledged. Thank you. Please check your chat for the details."}
    return {"say": "It has been acknowledged already. Thank you."}


def _call_outcome(tx: Tx, row: sqlite3.Row | None, status: str, answered_by: str) -> None:
    if row is None or row["status"] == "acked":
        return
    who = _who(tx, row)
    if status == "completed" and (answered_by.startswith("machine") or answered_by == "fax"):
        what = "voicemail"
    elif status == "completed":
        what = "answered, a key other than 1" if row["outcome"] == "wrong key" else "answered, no key pressed"
    elif status in UNANSWERED:
        what = UNANSWERED[status]
    else:
        return  # ringing, in-progress: not the end
    tx.conn.execute("UPDATE phone_sends SET status='no-ack', outcome=? WHERE id=?", (what, row["id"]))
    escalation.event(tx, row["alert_id"], Kind.PHONE, f"call to {who}: {what}")
    _climb(tx, row, f"the call to {who} was not acknowledged ({what})")


# --- texts in -----------------------------------------------------------------------------------

def _text_in(tx: Tx, raw_from: str, text: str, event_id: str) -> None:
    number = e164(raw_from) or raw_from
    rows = tx.conn.execute("SELECT person, state FROM contact_methods WHERE number=? AND channel='sms'"
                           " AND state!='pending' ORDER BY updated_at DESC", (number,)).fetchall()
    person = next((p for r in rows if (p := tx.person(r["person"])) and e164(p.phone) == number), None)
    msg = Inbound(platform="sms", event_id=event_id, user_id=number, chat_id=number, text=text[:1000])
    if person is None:
        codeword.stranger_codeword(tx, msg)  # the admins hear of a codeword from a number not verified
        return
    word = text.strip().upper()
    texts_on = methods(tx.conn, person.key)["sms"].state == "verified"
    if word == "STOP":
        _stop(tx, person, number, on=False)
    elif word == "START":
        _stop(tx, person, number, on=True)
    elif word in ("1", "YES") or ACK.match(text):
        m = ACK.match(text)
        _ack_by_text(tx, person, msg, int(m.group(1)) if m else None)
    elif word in ("OK", "SAFE") and lone_working.check_in_typed(tx, person, msg) or codeword.read_codeword(tx, person, msg):
        return
    elif texts_on:
        tx.reply(msg, Outbound(HINT, priority=Priority.reply), person=person)


def _stop(tx: Tx, person: Person, number: str, on: bool) -> None:
    """STOP turns texts to the number off (their consent, kept with when); START back on. Calls stay."""
    m = methods(tx.conn, person.key).get("sms")
    if on and (m is None or m.reason != "STOP texted"):
        return  # only what STOP turned off comes back with START (not a permanent failure)
    set_state(tx, person.key, "sms", number, "verified" if on else "disabled", "" if on else "STOP texted")
    log.info("texts to %s's number %s turned %s by a text", person.key, tail(number), "on" if on else "off")
    _admins(tx, f"{person.name} texted {'START: texts to their number are back on' if on else 'STOP: no more texts go to their number'}"
                f" ({tail(number)}). Calls are unchanged.")
    if on:
        tx.send_to(("sms", number, person.key), Outbound("saferbot: texts are back on.", priority=Priority.reply),
                   person=None, tag="phone")


def _ack_by_text(tx: Tx, person: Person, msg: Inbound, alert_id: int | None) -> None:
    open_ids = [r[0] for r in tx.conn.execute(
        "SELECT s.alert_id FROM phone_sends s JOIN alerts a ON a.id=s.alert_id WHERE s.number=? AND"
        " s.channel='sms' AND s.status!='throttled' AND a.status='open' GROUP BY s.alert_id"
        " ORDER BY MAX(s.id) DESC", (msg.chat_id,))]
    if alert_id is None:
        if len(open_ids) > 1:
            which = " or ".join(f"ACK {n}" for n in open_ids[:3])
            tx.reply(msg, Outbound(f"saferbot: {len(open_ids)} alerts are open. Reply {which}.",
                                   priority=Priority.alarm), person=person)
            return
        alert_id = open_ids[0] if open_ids else None
    alert = escalation.load(tx.conn, alert_id) if alert_id else None
    if alert is None or not escalation.may_handle(tx, alert, person):
        tx.reply(msg, Outbound("saferbot: no open alert of yours to acknowledge.", priority=Priority.reply),
                 person=person)
        return
    won, alert = escalation.ack(tx, alert.id, person)
    if won and alert:
        escalation.event(tx, alert.id, Kind.PHONE, f"{person.name} acknowledged by text")
        tx.reply(msg, Outbound(f"saferbot: alert #{alert.id} acknowledged. Thank you.", priority=Priority.alarm),
                 person=person)
    elif alert:
        by = tx.person(alert.acked_by)
        tx.reply(msg, Outbound(f"saferbot: alert #{alert.id} was already acknowledged"
                               + (f" by {by.name}." if by else "."), priority=Priority.reply), person=person)
