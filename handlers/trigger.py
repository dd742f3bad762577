"""Panic buttons: a press raises its device's codeword alarm, with the place on every card.

A device (a desk PC's hotkey, a Shelly or Flic button, Home Assistant) is registered by an
admin for one branch, one place and one codeword. A press is the codeword's alarm (its
severity and ladder) raised for the branch, with "Panic button: Central Library, front
counter" on the card. Presses of the same device within JOIN_WINDOW of the last one join
that alarm ("pressed 3 times") instead of raising another. A signed press carries a
webhook id: the same id again is answered from the store and raises nothing new.

The raiser sees whether help is coming (`state`): ready, raised, acknowledged (by whom),
or no responder on duty. A device never cancels an alarm: only people stand it down.

This module holds the rules; bot/trigger_http.py checks signatures and speaks HTTP.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from bot import escalation
from bot.messages import Inbound, Outbound
from bot.model import Person, Priority, Role, Severity, parse_duration
from bot.personal_data import Done, Found, Holding, Owner, Subject
from bot.registry import command, wakeup
from bot.unit import Tx
from handlers.codeword import ADMINS_ONLY

JOIN_WINDOW = 120.0  # seconds: another press of the same device within this joins its alarm
TEST_WINDOW = 600.0  # seconds: after `trigger test`, the next press is a test (logged, never escalated)
WATCH = "trigger.watch"
WATCH_EVERY = 60.0  # seconds between two looks for silent devices
KINDS = ("signed", "capability")


@dataclass(frozen=True)
class Device:
    id: str
    name: str
    branch: str
    place: str
    codeword: str
    kind: str
    secret: str | None
    token_hash: str | None
    status: str
    last_seen: float | None
    silent_since: float | None
    test_until: float | None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Pressed:
    """What a press did: the answer a retry of the same webhook id gets again."""

    press: int
    alert: int | None
    count: int  # presses joined into the alarm so far
    test: bool = False
    again: bool = False  # the same webhook id came again: nothing new was raised

    def body(self) -> dict[str, Any]:
        return {"press": self.press, "alert": self.alert, "pressed": self.count, "test": self.test}


_COLUMNS = "id, name, branch, place, codeword, kind, secret, token_hash, status, last_seen, silent_since, test_until"


def device(conn: Any, device_id: str) -> Device | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM trigger_devices WHERE id=?", (device_id,)).fetchone()
    return Device(*tuple(row)) if row else None


def devices(conn: Any) -> list[Device]:
    return [Device(*tuple(r)) for r in conn.execute(f"SELECT {_COLUMNS} FROM trigger_devices ORDER BY id")]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_token() -> str:
    """A capability URL's token: 128 random bits."""
    return secrets.token_urlsafe(16)


def slug(name: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(p for p in out.split("-") if p)[:48] or "device"


def place_line(tx: Tx, d: Device, count: int = 1) -> str:
    line = f"Panic button: {tx.directory.branch_name(d.branch)}, {d.place}"
    return line + (f" (pressed {count} times)" if count > 1 else "")


# --- registering -----------------------------------------------------------------------------------------
class Refused(ValueError):
    """A device that cannot be registered as asked; the text says why and what to do."""


def add_device(conn: Any, book: Any, service: Any, *, name: str, branch: str, place: str, codeword: str,
               kind: str, by: str, now: float) -> tuple[str, str]:
    """Register a device; returns (device id, secret or capability token), shown once and never again."""
    if branch not in service.branches:
        raise Refused(f"no branch '{branch}'; known: {', '.join(sorted(service.branches))}")
    cw = book.codewords.get(codeword)
    if cw is None:
        raise Refused(f"no codeword '{codeword}'; known: {', '.join(sorted(book.codewords))}")
    if cw.action != "alert":
        raise Refused(f"codeword '{codeword}' does not raise an alarm (its action is {cw.action})")
    if kind not in KINDS:
        raise Refused(f"kind must be one of {', '.join(KINDS)}")
    if not name.strip() or not place.strip():
        raise Refused("a device needs a name and a place")
    base = device_id = slug(name)
    n = 1
    while conn.execute("SELECT 1 FROM trigger_devices WHERE id=?", (device_id,)).fetchone():
        n += 1
        device_id = f"{base}-{n}"
    secret = new_secret() if kind == "signed" else new_token()
    conn.execute("INSERT INTO trigger_devices(id, name, branch, place, codeword, kind, secret, token_hash, created_at,"
                 " created_by) VALUES(?,?,?,?,?,?,?,?,?,?)",
                 (device_id, name.strip(), branch, place.strip(), codeword, kind,
                  secret if kind == "signed" else None, token_hash(secret) if kind == "capability" else None, now, by))
    return device_id, secret


def rotate(conn: Any, device_id: str) -> str | None:
    """A new secret (or token); the old one stops working at once."""
    d = device(conn, device_id)
    if d is None:
        return None
    secret = new_secret() if d.kind == "signed" else new_token()
    conn.execute("UPDATE trigger_devices SET secret=?, token_hash=? WHERE id=?",
                 (secret if d.kind == "signed" else None, token_hash(secret) if d.kind == "capability" else None,
                  device_id))
    return secret


def set_status(conn: Any, device_id: str, status: str) -> bool:
    return conn.execute("UPDATE trigger_devices SET status=? WHERE id=?", (status, device_id)).rowcount == 1


def remove(conn: Any, device_id: str) -> bool:
    """The device goes; its presses stay with the alarms they raised."""
    return conn.execute("DELETE FROM trigger_devices WHERE id=?", (device_id,)).rowcount == 1


# --- a press ---------------------------------------------------------------------------------------------
def press(tx: Tx, device_id: str, webhook_id: str | None = None) -> Pressed | None:
    """Store a press and raise (or join) its alarm, in one transaction; None if the device may not press."""
    if webhook_id:
        row = tx.conn.execute("SELECT id, alert_id, test FROM trigger_presses WHERE device=? AND webhook_id=?",
                              (device_id, webhook_id)).fetchone()
        if row is not None:  # a retry: the same answer, nothing new
            return Pressed(row[0], row[1], _count(tx, row[1]) if row[1] else 1, bool(row[2]), again=True)
    d = device(tx.conn, device_id)
    if d is None or not d.active:
        return None
    tx.conn.execute("UPDATE trigger_devices SET last_seen=? WHERE id=?", (tx.now, d.id))
    back_notice(tx, d)
    if d.test_until is not None and tx.now <= d.test_until:
        return _test_press(tx, d, webhook_id)
    joined = _open_alarm(tx, d)
    if joined is not None:
        count = _count(tx, joined) + 1
        pid = _record(tx, d, webhook_id, joined)
        escalation.set_details(tx, joined, place_line(tx, d, count), escalation.Kind.PRESSED,
                               f"{d.name} pressed again ({count} times)")
        return Pressed(pid, joined, count)
    codeword = tx.book.codewords.get(d.codeword)
    if codeword is not None:
        severity, ladder, title = codeword.severity, tx.book.ladders[codeword.ladder], codeword.meaning
    else:  # its codeword left the book since: never a lost press, the admins' ladder at high severity
        severity, ladder, title = Severity.high, ADMINS_ONLY, f"Panic button pressed (codeword '{d.codeword}' is gone)"
    alert = escalation.raise_alert(tx, kind="trigger", ref=d.id, severity=severity, ladder=ladder, title=title,
                                   person=None, branch=d.branch, details=place_line(tx, d))
    return Pressed(_record(tx, d, webhook_id, alert.id), alert.id, 1)


def _record(tx: Tx, d: Device, webhook_id: str | None, alert_id: int | None, test: bool = False) -> int:
    cur = tx.conn.execute("INSERT INTO trigger_presses(device, at, webhook_id, alert_id, test) VALUES(?,?,?,?,?)",
                          (d.id, tx.now, webhook_id, alert_id, int(test)))
    return int(cur.lastrowid or 0)


def _count(tx: Tx, alert_id: int) -> int:
    return tx.conn.execute("SELECT COUNT(*) FROM trigger_presses WHERE alert_id=?", (alert_id,)).fetchone()[0]


def _open_alarm(tx: Tx, d: Device) -> int | None:
    """The alarm this device's last press raised, if that press was recent and the alarm is not resolved."""
    row = tx.conn.execute(
        "SELECT p.alert_id FROM trigger_presses p JOIN alerts a ON a.id=p.alert_id WHERE p.device=? AND p.at>=?"
        " AND a.status<>'resolved' ORDER BY p.id DESC LIMIT 1", (d.id, tx.now - JOIN_WINDOW)).fetchone()
    return row[0] if row else None


def _test_press(tx: Tx, d: Device, webhook_id: str | None) -> Pressed:
    tx.conn.execute("UPDATE trigger_devices SET test_until=NULL WHERE id=?", (d.id,))
    pid = _record(tx, d, webhook_id, None, test=True)
    _tell_admins(tx, f"TEST press from {d.name} ({place_line(tx, d)}) at {tx.hhmm(tx.now)}: received and "
                     f"logged. This was a test: nobody else was told and nothing escalated.")
    return Pressed(pid, None, 1, test=True)


def arm_test(conn: Any, device_id: str, now: float) -> bool:
    """`trigger test`: the device's next press (within TEST_WINDOW) is a test press."""
    return conn.execute("UPDATE trigger_devices SET test_until=? WHERE id=?",
                        (now + TEST_WINDOW, device_id)).rowcount == 1


def _tell_admins(tx: Tx, text: str) -> None:
    for p in tx.directory.people.values():
        if p.role == Role.admin:
            tx.send(p, Outbound(text, priority=Priority.alarm), tag="trigger")


# --- what the raiser sees --------------------------------------------------------------------------------
def state(tx: Tx, device_id: str) -> dict[str, Any]:
    """ready | raised | acknowledged (by whom) | no responder on duty, for the device's light."""
    d = device(tx.conn, device_id)
    if d is None:
        return {"state": "unknown"}
    row = tx.conn.execute(
        "SELECT a.id, a.status, a.acked_by FROM trigger_presses p JOIN alerts a ON a.id=p.alert_id"
        " WHERE p.device=? ORDER BY p.id DESC LIMIT 1", (d.id,)).fetchone()
    if row is not None and row[1] == "open":
        return {"state": "raised", "alert": row[0]}
    if row is not None and row[1] == "acked":
        who = tx.person(row[2])
        name = who.name if who else "someone"
        return {"state": "acknowledged", "alert": row[0], "by": name, "on_their_way": [name]}
    if not responders(tx, d):
        return {"state": "no responder on duty"}
    return {"state": "ready"}


def responders(tx: Tx, d: Device) -> list[str]:
    """Who the first tier of the device's ladder would reach now (people, not the fallback)."""
    codeword = tx.book.codewords.get(d.codeword)
    if codeword is None:
        return []
    directory, keys = tx.directory, []
    for t in tx.book.ladders[codeword.ladder].tiers[0].notify:
        if t == "duty-manager":
            keys += directory.duty_managers(tx.conn, d.branch, tx.local())
        elif t == "on-shift":
            keys += directory.on_shift(tx.conn, d.branch)
        elif t.startswith("role:"):
            keys += [p.key for p in directory.with_role(Role(t[5:]), d.branch)]
        elif t.startswith("person:"):
            keys.append(t[7:])
    return [k for k in dict.fromkeys(keys) if (p := directory.person(k)) and p.role != Role.volunteer]


# --- liveness ---------------------------------------------------------------------------------------------
def heartbeat(tx: Tx, device_id: str) -> dict[str, Any] | None:
    """A signed device says it is alive; the answer is its state (one call for the client's light)."""
    d = device(tx.conn, device_id)
    if d is None or not d.active:
        return None
    tx.conn.execute("UPDATE trigger_devices SET last_seen=? WHERE id=?", (tx.now, d.id))
    back_notice(tx, d)
    ensure_watch(tx)
    return state(tx, device_id)


def branch_open(tx: Tx, branch: str, ts: float) -> bool:
    """Is the branch open at `ts` by its `hours:` in the service file (none given: always open)?"""
    b = tx.directory.service.branches.get(branch)
    return b is None or not b.hours or tx.directory.in_hours(b, tx.local(ts))


async def startup(engine: Any) -> None:
    """App.startup: one pending look for silent devices while there are any to watch."""
    await engine.perform(ensure_watch)


def watched(conn: Any) -> bool:
    """Is there a device to watch (an active signed one)?"""
    return conn.execute("SELECT 1 FROM trigger_devices WHERE status='active' AND kind='signed' LIMIT 1"
                        ).fetchone() is not None


def ensure_watch(tx: Tx) -> None:
    """A pending look for silent devices, once: a restart, a heartbeat or a second device adds none.
    (`saferbot trigger add` writes the same row from the command line: bot/commands/trigger.py.)"""
    if tx.pending_wakeup(WATCH, "") is None and watched(tx.conn):
        tx.wake(WATCH, "", tx.now + WATCH_EVERY)


@wakeup(WATCH)
def watch(tx: Tx, _ref: str) -> None:
    """Every minute: a signed device silent for SAFERBOT_TRIGGER_SILENT_AFTER, with its branch open all
    that time, gets one notice to the admins; it stays silent (no more notices) until it is heard again."""
    if not watched(tx.conn):
        return  # nothing to watch: the look stops until a device is added
    tx.wake(WATCH, "", tx.now + WATCH_EVERY)
    after = parse_duration(tx.ctx.settings.trigger_silent_after)
    for d, created in [(Device(*tuple(r)[:-1]), r[-1]) for r in tx.conn.execute(
            f"SELECT {_COLUMNS}, created_at FROM trigger_devices WHERE status='active' AND kind='signed'"
            " AND silent_since IS NULL")]:
        since = d.last_seen or created
        if tx.now - since < after or not (branch_open(tx, d.branch, tx.now) and branch_open(tx, d.branch, tx.now - after)):
            continue
        tx.conn.execute("UPDATE trigger_devices SET silent_since=? WHERE id=?", (tx.now, d.id))
        heard = f"since {tx.hhmm(d.last_seen)}" if d.last_seen else "since it was registered"
        _tell_admins(tx, f"Panic button {d.name} ({place_line(tx, d)}) has not been heard from {heard}, while the "
                         f"branch is open: a press from it may not arrive. Check the PC or device is on and online "
                         f"(saferbot trigger list). You will be told once when it is back.")


def registered(settings: Any) -> list[Device]:
    """The active devices, read without changing anything (doctor, check-config); [] if the store
    cannot be read or has no devices yet (the store's own checks say why)."""
    from bot.store import StoreError, columns, open_read_only

    try:
        conn = open_read_only(settings.db)
        if conn is None:
            return []
        try:
            return [d for d in devices(conn) if d.active] if columns(conn, "trigger_devices") else []
        finally:
            conn.close()
    except (*StoreError, OSError):
        return []


def silent(conn: Any) -> list[Device]:
    """Devices the admins were told are silent (for status and doctor)."""
    return [d for d in devices(conn) if d.silent_since is not None and d.active]


def panic_line(conn: Any) -> str:
    """`saferbot status`: how many devices, which are silent, which cannot be watched."""
    found = [d for d in devices(conn) if d.active]
    if not found:
        return ""
    quiet = [d.name for d in found if d.silent_since is not None]
    blind = [d.name for d in found if d.kind == "capability"]
    text = f"{len(found)} active"
    text += f"; SILENT (admins told): {', '.join(quiet)}" if quiet else ""
    return text + (f"; unmonitored (cannot send heartbeats): {', '.join(blind)}" if blind else "")


def weekly_lines(tx: Tx) -> list[str]:
    """Monday morning, for the admins (handlers/weekly.py): silent and unmonitored panic buttons."""
    found = [d for d in devices(tx.conn) if d.active]
    if not any(d.silent_since is not None or d.kind == "capability" for d in found):
        return []
    return [f"panic buttons: {panic_line(tx.conn)}"]


def back_notice(tx: Tx, d: Device) -> None:
    """A device the admins were told was silent is heard again: one "back" notice."""
    if d.silent_since is None:
        return
    tx.conn.execute("UPDATE trigger_devices SET silent_since=NULL WHERE id=?", (d.id,))
    _tell_admins(tx, f"Panic button {d.name} ({place_line(tx, d)}) is back: heard from at {tx.hhmm(tx.now)} "
                     f"(silent since {tx.hhmm(d.silent_since)}).")


# --- from chat (admins) ------------------------------------------------------------------------------------
CHAT_USAGE = "trigger list | trigger test <device> | trigger disable <device> | trigger enable <device>"


def _heard(tx: Tx, d: Device) -> str:
    if d.kind == "capability":
        return "unmonitored: it cannot send heartbeats"
    return f"last heard {tx.hhmm(d.last_seen)}" if d.last_seen else "never heard"


@command("trigger", "triggers", permission="manage_triggers", usage=CHAT_USAGE,
         help="panic buttons: list them, test one, disable or enable one (admins)")
def trigger_command(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    """Admins from chat. Adding, rotating and removing print a secret, so they are on the server only."""
    words = args.split()
    verb = words[0].lower() if words else "list"
    if verb == "list" and len(words) <= 1:
        found = devices(tx.conn)
        lines = [f"{d.id}: {place_line(tx, d)} ({d.kind}, {d.status}{', SILENT' if d.silent_since else ''}, "
                 f"{_heard(tx, d)})" for d in found]
        text = "\n".join(lines) if lines else "No panic buttons are registered."
    elif verb in ("test", "disable", "enable") and len(words) == 2 and (d := device(tx.conn, words[1].lower())):
        if verb == "test":
            arm_test(tx.conn, d.id, tx.now)
            text = (f"Press {d.name} now (within {TEST_WINDOW / 60:.0f} minutes): that press is a test, logged and "
                    "told to the admins, never escalated. The press after it is real.")
        else:
            set_status(tx.conn, d.id, "disabled" if verb == "disable" else "active")
            ensure_watch(tx)
            text = f"{d.name} is {'disabled: its presses are refused' if verb == 'disable' else 'enabled again'}."
    else:
        text = (f"Usage: {CHAT_USAGE}. Adding a device, a new secret and removing one are done on the server "
                "(saferbot trigger add|rotate|remove), so a secret never passes through chat.")
    tx.reply(msg, Outbound(text), person=person)


# --- personal data ----------------------------------------------------------------------------------------
def _about(conn: Any, s: Subject) -> list[Found]:
    rows = [dict(id=r[0], name=r[1], created_at=r[2]) for r in conn.execute(
        "SELECT id, name, created_at FROM trigger_devices WHERE created_by=?", (s.key,))] if s.key else []
    return [Found("Panic buttons they registered", "while the device is registered", rows)] if rows else []


def _forget(conn: Any, s: Subject, dry_run: bool) -> Done:
    n = conn.execute("SELECT COUNT(*) FROM trigger_devices WHERE created_by=?", (s.key,)).fetchone()[0] if s.key else 0
    if n and not dry_run:
        conn.execute("UPDATE trigger_devices SET created_by=NULL WHERE created_by=?", (s.key,))
    return Done(changed=[f"trigger_devices: removed who registered {n} device(s)"] if n else [])


def _purge(conn: Any, now: float, dry_run: bool) -> Done:
    return Done()  # presses hold no person key and no free text; they go with the alerts' own retention


OWNER = Owner("trigger", (
    Holding("trigger_devices", person_columns=("created_by",), text_columns=("name", "place"),
            retention="while the device is registered", why="who set up a panic button (accountability)"),
    Holding("trigger_presses", why="when a panic button was pressed (the alarm's evidence)"),
), _about, _forget, _purge)
