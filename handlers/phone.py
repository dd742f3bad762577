"""The phone rung: verified numbers, and texts and calls when a ladder tier says `sms:` / `call:`.

A person's `sms` and `voice` contact methods (table `contact_methods`) are pending until they
prove, in chat, that the roster's `phone:` is theirs: `phone verify` texts a 6-digit code (valid
15 minutes, at most 3 sends an hour per number) and typing it back verifies both methods. Only a
verified, enabled method whose number is still the roster's is ever used.

A tier with `sms: true` / `call: true` reaches its people in chat as every tier does, and also by
phone: each text or call is an outbox row (platform sms / voice, stored first, at-least-once)
and a `phone_sends` row, which the throttles count (GoAlert's figures, per number, shared by
every instance). The outbox row names no person: a number the provider refuses must not fall
back to the person's chat (which has the card already, and must never see a verification code). A throttled rung is recorded and the ladder climbs at once; so do a call that
cannot be answered and a text that cannot arrive (handlers/phone_events.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass

from bot import escalation
from bot.escalation import Alert, Kind
from bot.messages import Inbound, Outbound, drill_mark
from bot.model import Person, Priority, Role
from bot.permissions import allowed
from bot.registry import command, reads
from bot.store.outbox import forget_sent_to
from bot.unit import Tx

CODE_VALID = 15 * 60
CODE_SENDS_PER_HOUR = 3
CODE_TRIES = 5  # wrong codes before a code is dead (a new one must be sent)
CHANNELS = ("sms", "voice")
# (window seconds, most sends in it) per number: GoAlert's defaults
THROTTLE = {"voice": ((900, 3), (3600, 7), (10800, 15)), "sms": ((900, 5), (3600, 11), (10800, 21))}
CODE = re.compile(r"^\s*(\d{6})\s*$")
SAID = {"sms": "text", "voice": "call"}


@dataclass(frozen=True)
class Method:
    person: str
    channel: str
    number: str
    state: str  # pending | verified | disabled
    reason: str


def e164(raw: str | None) -> str | None:
    """A UK-style or international number as +<digits> (None: not a number a provider can use)."""
    text = re.sub(r"[\s().-]", "", raw or "")
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("0"):
        text = "+44" + text[1:]
    elif text.startswith("44"):
        text = "+" + text
    return text if re.fullmatch(r"\+[1-9]\d{7,14}", text) else None


def tail(number: str) -> str:
    """A number as shown in chat and on timelines: its last 3 digits only."""
    return f"ending {number[-3:]}"


def methods(conn: sqlite3.Connection, person: str) -> dict[str, Method]:
    return {r["channel"]: Method(r["person"], r["channel"], r["number"], r["state"], r["reason"]) for r in
            conn.execute("SELECT * FROM contact_methods WHERE person=?", (person,))}


def usable(tx: Tx, person: Person, channel: str) -> str | None:
    """The number to use for this person and channel: verified, enabled, and still the roster's."""
    m = methods(tx.conn, person.key).get(channel)
    number = e164(person.phone)
    return m.number if m and m.state == "verified" and m.number == number else None


def set_state(tx: Tx, person: str, channel: str, number: str, state: str, reason: str = "") -> None:
    tx.conn.execute("INSERT INTO contact_methods(person, channel, number, state, reason, updated_at)"
                    " VALUES(?,?,?,?,?,?) ON CONFLICT(person, channel) DO UPDATE SET number=excluded.number,"
                    " state=excluded.state, reason=excluded.reason, updated_at=excluded.updated_at",
                    (person, channel, number, state, reason, tx.now))


def unverified(conn: sqlite3.Connection, people: list[Person]) -> list[Person]:
    """People who receive alerts but whose roster number is not verified for texts (named by status/doctor)."""
    verified = {(r[0], r[1]) for r in conn.execute(
        "SELECT person, number FROM contact_methods WHERE channel='sms' AND state='verified'")}
    return [p for p in people if p.role != Role.volunteer and (p.key, e164(p.phone)) not in verified]


# --- verification ------------------------------------------------------------------------------

def _hash(number: str, code: str) -> str:
    return hashlib.sha256(f"{number}:{code}".encode()).hexdigest()


@command("phone", permission="receive_alert", help="your phone number for texts and calls when nobody answers",
         usage="phone verify | phone off <person> [calls|texts]")
def phone_command(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    word, _, rest = args.strip().partition(" ")
    if word.lower() == "verify" and CODE.match(rest):
        tx.reply(msg, Outbound(check_code(tx, person, rest.strip())), person=person)
    elif word.lower() == "verify":
        tx.reply(msg, Outbound(send_code(tx, person)), person=person)
    elif word.lower() in ("off", "on") and rest.strip():
        tx.reply(msg, Outbound(switch(tx, person, rest, on=word.lower() == "on")), person=person)
    else:
        tx.reply(msg, Outbound(describe(tx, person)), person=person)


def switch(tx: Tx, admin: Person, rest: str, on: bool) -> str:
    """`phone off <person> [calls|texts]`: an admin turns a person's calls (which STOP never does) or texts
    off; `phone on` turns back on only what an admin turned off (a failed number is verified again)."""
    from handlers.registration import find_person

    if not allowed(admin, "edit_roster"):
        return "Only an admin can turn someone's texts or calls on or off. You can use phone verify."
    words = rest.split()
    only = {"calls": ("voice",), "texts": ("sms",)}.get(words[-1].lower()) if len(words) > 1 else None
    target = find_person(tx.directory.people, " ".join(words[:-1] if only else words))
    if target is None:
        return f"Nobody called {' '.join(words)!r} on the roster."
    changed = []
    for channel, m in methods(tx.conn, target.key).items():
        if channel not in (only or CHANNELS):
            continue
        if not on and m.state != "disabled":
            set_state(tx, target.key, channel, m.number, "disabled", f"turned off by {admin.name}")
            changed.append(channel)
        elif on and m.state == "disabled" and m.reason.startswith("turned off by"):
            set_state(tx, target.key, channel, m.number, "verified")
            changed.append(channel)
    said = " and ".join("texts" if c == "sms" else "calls" for c in changed)
    return f"{target.name}: {said} turned {'on' if on else 'off'}." if changed else \
        f"{target.name}: nothing to turn {'on' if on else 'off'} (see phone verify)."


def describe(tx: Tx, person: Person) -> str:
    number = e164(person.phone)
    if not number:
        return "The roster has no phone number for you that texts and calls can reach. Ask an admin to add it."
    have = methods(tx.conn, person.key)
    lines = [f"Your roster number {tail(number)}:"]
    for channel in CHANNELS:
        m = have.get(channel)
        state = "not verified" if not m or m.number != number else m.state
        lines.append(f"{'texts' if channel == 'sms' else 'calls'}: {state}" + (f" ({m.reason})" if m and m.reason else ""))
    if any(have.get(c) is None or have[c].state == "pending" or have[c].number != number for c in CHANNELS):
        lines.append("Send phone verify to get a code by text, then type the code here.")
    return "\n".join(lines)


def send_code(tx: Tx, person: Person) -> str:
    number = e164(person.phone)
    if not number:
        return "The roster has no phone number for you that texts can reach. Ask an admin to add it."
    sent = tx.conn.execute("SELECT COUNT(*) FROM phone_codes WHERE number=? AND sent_at>?",
                           (number, tx.now - 3600)).fetchone()[0]
    if sent >= CODE_SENDS_PER_HOUR:
        return f"{CODE_SENDS_PER_HOUR} codes have been sent to this number in the last hour. Try again later."
    code = f"{secrets.randbelow(10 ** 6):06d}"
    tx.conn.execute("UPDATE phone_codes SET used_at=? WHERE person=? AND used_at IS NULL", (tx.now, person.key))
    tx.conn.execute("INSERT INTO phone_codes(person, number, code_hash, sent_at, expires_at) VALUES(?,?,?,?,?)",
                    (person.key, number, _hash(number, code), tx.now, tx.now + CODE_VALID))
    for channel in CHANNELS:
        m = methods(tx.conn, person.key).get(channel)
        if m is None or m.number != number:
            set_state(tx, person.key, channel, number, "pending")
    tx.send_to(("sms", number, person.key), Outbound(f"Your saferbot code is {code}. Type it in your chat with "
                                                     "saferbot within 15 minutes.", priority=Priority.reply),
               person=None, tag="phone-code")  # no person: a refused number must never fall back to chat
    return f"A 6-digit code is on its way by text to your number {tail(number)}. Type it here within 15 minutes."


def check_code(tx: Tx, person: Person, code: str) -> str:
    row = tx.conn.execute("SELECT * FROM phone_codes WHERE person=? AND used_at IS NULL AND expires_at>?"
                          " ORDER BY id DESC LIMIT 1", (person.key, tx.now)).fetchone()
    if row is None:
        return "There is no code waiting for you (codes last 15 minutes). Send phone verify for a new one."
    if row["number"] != e164(person.phone):
        return "Your roster number has changed since that code was sent. Send phone verify for a new one."
    if not secrets.compare_digest(row["code_hash"], _hash(row["number"], code)):
        tries = row["tries"] + 1
        dead = tries >= CODE_TRIES
        tx.conn.execute("UPDATE phone_codes SET tries=?, used_at=CASE WHEN ? THEN ? ELSE used_at END WHERE id=?",
                        (tries, dead, tx.now, row["id"]))
        return ("That is not the code. Too many wrong tries: send phone verify for a new one." if dead
                else "That is not the code. Check the text and type it again.")
    tx.conn.execute("UPDATE phone_codes SET used_at=? WHERE id=?", (tx.now, row["id"]))
    for channel in CHANNELS:
        set_state(tx, person.key, channel, row["number"], "verified")
    return (f"Thank you: your number {tail(row['number'])} is verified. When nobody answers an alert in chat, "
            "saferbot may text or call it.")


@reads()
def code_answer(tx: Tx, person: Person, msg: Inbound) -> bool:
    """ANSWER: six digits typed while a code is waiting are that code."""
    m = CODE.match(msg.text or "")
    if m is None or msg.is_group or tx.conn.execute(
            "SELECT 1 FROM phone_codes WHERE person=? AND used_at IS NULL AND expires_at>?",
            (person.key, tx.now)).fetchone() is None:
        return False
    tx.reply(msg, Outbound(check_code(tx, person, m.group(1))), person=person)
    return True


# --- the rung ----------------------------------------------------------------------------------

def words(tx: Tx, alert: Alert, channel: str) -> str:
    """What the text says, or the call reads out (no free text of the sender's: the codeword's meaning)."""
    place = tx.directory.branch_name(alert.branch)
    if channel == "sms":
        return f"{drill_mark(alert.drill)}saferbot alert #{alert.id}: {alert.title} at {place}. Reply 1 to acknowledge"
    return (f"{'This is a drill. ' if alert.drill else ''}This is saferbot. Alert {alert.id}: {alert.title} at "
            f"{place}. Nobody has acknowledged it in chat.")


def throttled(conn: sqlite3.Connection, number: str, channel: str, now: float) -> str | None:
    """Which limit a send to this number now would pass (None: within every limit)."""
    for window, most in THROTTLE[channel]:
        n = conn.execute("SELECT COUNT(*) FROM phone_sends WHERE number=? AND channel=? AND at>? AND"
                         " status!='throttled'", (number, channel, now - window)).fetchone()[0]
        if n >= most:
            return f"{most} {SAID[channel]}s in {window // 60} min"
    return None


def on_tier(tx: Tx, alert: Alert, tier: int, repeat: int, people: list[Person]) -> None:
    """After a tier notified its people in chat: also text and/or call them, if the tier says so."""
    step = alert.ladder.tiers[tier]
    channels = [c for c, on in (("sms", step.sms), ("voice", step.call)) if on]
    if not channels:
        return
    label = f"tier {tier + 1}" + (f", repeat {repeat}" if repeat else "")
    held = []
    for p in people:
        for channel in channels:
            number = usable(tx, p, channel)
            if number is None:
                escalation.event(tx, alert.id, Kind.PHONE, f"{p.name} has no verified number for a "
                                 f"{SAID[channel]} ({label})")
                continue
            limit = throttled(tx.conn, number, channel, tx.now)
            if limit:
                _record(tx, p, number, channel, alert, None, "throttled", limit)
                escalation.event(tx, alert.id, Kind.PHONE, f"{SAID[channel]} to {p.name} throttled ({limit} to "
                                 f"one number; {label})")
                held.append(p.name)
                continue
            tx.send_to((channel, number, p.key), Outbound(words(tx, alert, channel), priority=Priority.alarm),
                       person=None, alert_id=alert.id, tag="notify")  # who: phone_sends (no chat fallback)
            _record(tx, p, number, channel, alert, tx.new_rows[-1]["id"], "queued")
            escalation.event(tx, alert.id, Kind.PHONE, f"{'texting' if channel == 'sms' else 'calling'} {p.name} "
                             f"({label})")
    if held:
        current = escalation.load(tx.conn, alert.id)
        if current and not escalation.climb_at_once(tx, current, "the phone rung was throttled"):
            escalation.event(tx, alert.id, Kind.PHONE, "the phone rung was throttled and this is the last tier")


def _record(tx: Tx, p: Person, number: str, channel: str, alert: Alert, outbox_id: int | None, status: str,
            outcome: str = "") -> None:
    tx.conn.execute("INSERT INTO phone_sends(at, person, number, channel, alert_id, tier, repeats, outbox_id,"
                    " status, outcome) VALUES(?,?,?,?,?,?,?,?,?,?)",
                    (tx.now, p.key, number, channel, alert.id, alert.tier, alert.repeats, outbox_id, status,
                     outcome))


# --- the weekly note (handlers/weekly.py) -------------------------------------------------------------
def weekly_lines(tx: Tx) -> list[str]:
    """Monday morning, for the admins: who the ladder's texts and calls cannot reach yet."""
    text = unverified_text(tx.conn, tx.book, list(tx.directory.people.values()))
    return [f"{text}. Each of them sends phone verify in chat."] if text else []


# --- personal data -----------------------------------------------------------------------------
KEEP_SENDS = 30 * 86400  # the texts and calls made: for the timelines' questions, then gone


def _about(conn: sqlite3.Connection, subject) -> list:
    from bot.personal_data import Found

    if not subject.key:
        return []
    return [Found("Phone numbers for texts and calls, and their state", "while they are on the roster",
                  [dict(r) for r in conn.execute("SELECT * FROM contact_methods WHERE person=?", (subject.key,))]),
            Found("Texts and calls the alert ladder made to them", "30 days",
                  [dict(r) for r in conn.execute("SELECT * FROM phone_sends WHERE person=? ORDER BY id",
                                                 (subject.key,))])]


def _forget(conn: sqlite3.Connection, subject, dry_run: bool):
    from bot.personal_data import Done

    done = Done()
    for table in ("contact_methods", "phone_codes", "phone_sends"):
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE person=?", (subject.key,)).fetchone()[0]
        if n:
            done.changed.append(f"{table}: deleted {n} row(s)")
            if not dry_run:
                conn.execute(f"DELETE FROM {table} WHERE person=?", (subject.key,))
    # the texts and calls themselves: outbox rows addressed to their number, by their key in user_id
    n = forget_sent_to(conn, ("sms", "voice"), subject.key, dry_run)
    if n:
        done.changed.append(f"outbox: deleted {n} text(s) and call(s) to their number")
    return done


def _purge(conn: sqlite3.Connection, now: float, dry_run: bool):
    from bot.personal_data import Done

    done = Done()
    for table, col, age in (("phone_sends", "at", KEEP_SENDS), ("phone_codes", "sent_at", 86400)):
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col}<?", (now - age,)).fetchone()[0]
        if n:
            done.changed.append(f"{table}: deleted {n} row(s) older than {age // 86400} day(s)")
            if not dry_run:
                conn.execute(f"DELETE FROM {table} WHERE {col}<?", (now - age,))
    return done


def data_owner():
    """The phone tables' personal data (bot/personal_data.py)."""
    from bot.personal_data import Holding, Owner

    return Owner("phone", (
        Holding("contact_methods", ("person",), ("number",), "while on the roster", "to text and call them in an alarm"),
        Holding("phone_codes", ("person",), ("number",), "1 day", "to prove a number is theirs"),
        Holding("phone_sends", ("person",), ("number",), "30 days", "what the alarm ladder texted or called")),
        _about, _forget, _purge)


def has_phone_tier(book) -> bool:
    return any(t.sms or t.call for ladder in book.ladders.values() for t in ladder.tiers)


def unverified_text(conn, book, people: list[Person]) -> str | None:
    """Who a phone tier could not reach, for `status`, `doctor` and the weekly note (None: no phone tier, or nobody)."""
    if not has_phone_tier(book):
        return None
    missing = unverified(conn, people)
    if not missing:
        return None
    return (f"{len(missing)} people who receive alerts have no verified phone number, so the ladder's texts and "
            f"calls cannot reach them: {', '.join(p.name for p in missing)}")
