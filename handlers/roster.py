"""People and duty: on/off shift, who is on duty, cover, contacts, the roster and its edits.

Roster edits (`person add|set|remove`, or `saferbot roster ...` on the command line)
are kept in the store as an overlay on the service file and every one is written to
`roster_audit` with who, when, and the person before and after.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from datetime import datetime, timedelta

from bot import words
from bot.directory import Directory
from bot.messages import Inbound, Outbound
from bot.model import Person, Role
from bot.permissions import allowed
from bot.registry import command, home
from bot.unit import Tx

from . import privacy

ROLE_NAMES = {Role.volunteer: "volunteer", Role.staff: "staff", Role.duty_manager: "duty manager",
              Role.admin: "admin"}


def say(tx: Tx, msg: Inbound, person: Person, text: str) -> None:
    tx.reply(msg, Outbound(text), person=person)


def branch_arg(tx: Tx, person: Person, word: str) -> str | None:
    """A branch named in the message, else the person's own."""
    word = word.strip().lower()
    if word in tx.directory.service.branches:
        return word
    return person.branch


def names(tx: Tx, keys: list[str], phones: bool = False) -> str:
    out = []
    for k in keys:
        p = tx.person(k)
        if p:
            out.append(p.name + (f" ({p.phone})" if phones and p.phone else ""))
    return ", ".join(out)


# --- shifts -------------------------------------------------------------------------------
_ON = {"on", "onshift", "shifton"}
_OFF = {"off", "offshift", "shiftoff"}

def set_shift(tx: Tx, person: Person, on: bool) -> None:
    tx.conn.execute("INSERT INTO shifts(person, on_shift, since) VALUES(?,?,?) ON CONFLICT(person) DO UPDATE"
                    " SET on_shift=excluded.on_shift, since=excluded.since", (person.key, int(on), tx.now))


@command("on", "off", "shift", "onshift", "offshift", permission="set_shift",
         help="say you are on or off shift (alerts reach staff on shift)", usage="on shift | off shift")
def shift(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    said = words.key(re.sub(r"@\S+", "", msg.text, count=1))  # "On Shift!", "off-shift", "/onshift", "shift on" -> one key
    if said not in _ON | _OFF | {"shift"}:
        tx.reply(msg, Outbound("Say 'on shift' or 'off shift'."), person=person)
        return
    on = said in _ON
    if said == "shift":
        state = "on" if tx.directory.is_on_shift(tx.conn, person, tx.now) else "off"
        say(tx, msg, person, f"You are {state} shift. Say 'on shift' or 'off shift' to change it.")
        return
    set_shift(tx, person, on)
    branch = tx.directory.branch_name(person.branch)
    tx.reply(msg, Outbound(f"You are {'on' if on else 'off'} shift at {branch}."), person=person)


# --- duty -----------------------------------------------------------------------------------
def duty_line(tx: Tx, branch: str | None, phones: bool) -> str:
    d = tx.directory
    managers = d.duty_managers(tx.conn, branch, tx.local())
    if not managers:
        return "Duty manager: nobody on the rota now - alerts go to the fallback (the admins)."
    covers = d.covering(tx.conn, branch, tx.now)
    line = f"Duty manager: {names(tx, managers, phones)}"
    if covers:
        line += f" (covering until {until_text(tx, covers[0]['until'])})"
    return line


@command("onduty", permission="see_on_duty", help="who is duty manager now at your branch",
         usage="onduty [branch]")
def onduty(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    branch = branch_arg(tx, person, args)
    if branch is None:
        say(tx, msg, person, "Which branch? Try: onduty " + " | onduty ".join(tx.directory.service.branches))
        return
    phones = allowed(person, "see_roster_phones")
    lines = [f"{tx.directory.branch_name(branch)}, {tx.hhmm(tx.now)}", duty_line(tx, branch, phones)]
    if person.role != Role.volunteer:
        on = tx.directory.on_shift(tx.conn, branch, tx.local())
        lines.append(f"On shift: {names(tx, on) or 'nobody has said they are on shift'}")
    say(tx, msg, person, "\n".join(lines))


def parse_until(tx: Tx, text: str) -> float | None:
    """`until 17:00`, `till 5pm`, `2h`, `for 90m` -> an epoch time in the future (None if unreadable)."""
    text = text.strip().lower()
    text = re.sub(r"^(until|till|til|to|for)\s+", "", text).rstrip(".!")
    found = words.time_of_day(text, bare_hour=True)  # a bare number is an hour ("until 17"), never seconds
    if found:
        hour, minute = found
        now = tx.local()
        at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= now:
            at = _next_day(at)
        return at.timestamp()
    took = words.take_duration(text.split())  # the same lengths as everywhere: 2h, 90m, 1 hour 30 min
    if took is None or took[1] != len(text.split()):
        return None
    return tx.now + took[0] if took[0] > 0 else None


def until_text(tx: Tx, ts: float) -> str:
    """'17:00' today, 'tomorrow 17:00' when the time has passed today (19:15 'until 17:00')."""
    return words.day_and_time(tx.local(), tx.local(ts))


def _next_day(at: datetime) -> datetime:
    return (at.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=at.tzinfo)


_ENDS = ("end", "stop", "off", "over", "done", "finish")


@command("cover", permission="take_cover", help="be duty manager for a branch until a time",
         usage="cover [branch] until 17:00 | cover end [branch]")
def cover(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    said = args.lower().split()
    branches = tx.directory.service.branches
    named = [w for w in said if w in branches]
    ending = any(w in _ENDS for w in said[:2])
    if ending:  # "cover end", "cover end central", "cover central end": what the reply told them to say
        _end_cover(tx, person, msg, named[0] if named else None)
        return
    branch = person.branch
    if said and said[0] in branches:
        branch = said.pop(0)
    rest = " ".join(said)
    if branch is None:
        say(tx, msg, person, "Which branch? Try: cover central until 17:00")
        return
    name = tx.directory.branch_name(branch)
    until = parse_until(tx, rest) if rest else None
    if until is None or until - tx.now > 24 * 3600:
        say(tx, msg, person, "Say until when, within the next 24 hours: cover until 17:00 (or cover 2h).")
        return
    tx.conn.execute("UPDATE covers SET ended_at=? WHERE person=? AND branch=? AND ended_at IS NULL",
                    (tx.now, person.key, branch))
    tx.conn.execute("INSERT INTO covers(person, branch, start, until) VALUES(?,?,?,?)",
                    (person.key, branch, tx.now, until))
    end_words = "cover end" if branch == person.branch else f"cover end {branch}"
    say(tx, msg, person, f"You are duty manager for {name} until {until_text(tx, until)}. "
                         f"Alerts there come to you from now. Say '{end_words}' to hand back early.")


def _end_cover(tx: Tx, person: Person, msg: Inbound, branch: str | None) -> None:
    """End the person's cover of one branch, or (no branch named) every cover they hold now."""
    live = [r[0] for r in tx.conn.execute("SELECT DISTINCT branch FROM covers WHERE person=? AND ended_at IS NULL"
                                          " AND until>?", (person.key, tx.now))]
    ending = [b for b in live if branch is None or b == branch]
    if not ending:
        where = tx.directory.branch_name(branch) if branch else "any branch"
        say(tx, msg, person, f"You are not covering {where}.")
        return
    lines = []
    for b in ending:
        tx.conn.execute("UPDATE covers SET ended_at=? WHERE person=? AND branch=? AND ended_at IS NULL",
                        (tx.now, person.key, b))
        back = names(tx, tx.directory.duty_managers(tx.conn, b, tx.local())) or "nobody (alerts go to the admins)"
        lines.append(f"Cover ended. Duty manager for {tx.directory.branch_name(b)} is now {back}.")
    say(tx, msg, person, "\n".join(lines))


@home
def cover_home(tx: Tx, person: Person) -> list[str]:
    rows = tx.conn.execute("SELECT branch, until FROM covers WHERE person=? AND ended_at IS NULL AND until>?",
                           (person.key, tx.now)).fetchall()
    return [f"You are covering as duty manager at {tx.directory.branch_name(r[0])} until {until_text(tx, r[1])}."
            for r in rows]


# --- contacts -------------------------------------------------------------------------------
@command("contacts", "numbers", permission="see_contacts", help="useful phone numbers for your branch",
         usage="contacts [branch]")
def contacts(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    branch_key = branch_arg(tx, person, args)
    branch = tx.directory.service.branches.get(branch_key or "")
    if branch is None:
        say(tx, msg, person, "Which branch? Try: contacts " + " | contacts ".join(tx.directory.service.branches))
        return
    lines = [f"{branch.name} - useful numbers (tap to call):"]
    if branch.address:
        lines[0] = f"{branch.name}, {branch.address} - useful numbers (tap to call):"
    for c in branch.contacts:
        lines.append(f"{c.name}: {c.phone}" + (f" - {c.note}" if c.note else ""))
    phones = allowed(person, "see_roster_phones")
    managers = tx.directory.duty_managers(tx.conn, branch_key, tx.local())
    others = [p.key for p in tx.directory.with_role(Role.duty_manager, branch_key)
              if p.branch == branch_key and p.key not in managers]
    if managers:
        lines.append(f"Duty manager now: {_people_numbers(tx, managers, phones)}")
    else:
        lines.append("Duty manager now: nobody on the rota")
    if others:
        lines.append(f"Other managers: {_people_numbers(tx, others, phones)}")
    if not phones:
        lines.append("For a colleague's own number, ask a member of staff.")
    say(tx, msg, person, "\n".join(lines))


def _people_numbers(tx: Tx, keys: list[str], phones: bool) -> str:
    out = []
    for k in keys:
        p = tx.person(k)
        if p:
            out.append(f"{p.name}: {p.phone}" if phones and p.phone else p.name)
    return "; ".join(out)


# --- the roster -------------------------------------------------------------------------------
def describe(tx_or_dir: Tx | Directory, p: Person, phones: bool) -> str:
    d = tx_or_dir.directory if isinstance(tx_or_dir, Tx) else tx_or_dir
    text = f"{p.key}: {p.name}, {ROLE_NAMES[p.role]}, {d.branch_name(p.branch) if p.branch else 'all branches'}"
    if phones and p.phone:
        text += f", {p.phone}"
    return text


@command("roster", permission="list_roster", help="who is rostered at your branch",
         usage="roster [branch|all] | roster history")
def roster(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    arg = args.strip().lower()
    if arg.startswith("history"):
        if not allowed(person, "edit_roster"):
            say(tx, msg, person, "Sorry, that is not something your role can do here.")
            return
        say(tx, msg, person, "\n".join(history_lines(tx.conn, tx.directory, arg[7:].strip() or None)))
        return
    d = tx.directory
    if person.role == Role.admin and arg in ("", "all"):
        branches = None
    else:
        branch = arg if arg in d.service.branches else person.branch
        if (arg and arg not in d.service.branches) or branch is None:
            say(tx, msg, person, "Which branch? Try: roster " + " | roster ".join(d.service.branches))
            return
        if branch != person.branch and person.role != Role.admin:
            say(tx, msg, person, "You can see the roster of your own branch.")
            return
        branches = [branch]
    phones = allowed(person, "see_roster_phones")
    people = [p for p in d.people.values() if branches is None or p.branch in branches or p.branch is None]
    people.sort(key=lambda p: (p.branch or "", -p.role.rank, p.name))
    where = "all branches" if branches is None else d.branch_name(branches[0])
    lines = [f"Roster, {where} ({len(people)}):"] + ["- " + describe(tx, p, phones) for p in people]
    say(tx, msg, person, "\n".join(lines))


FIELDS = ("name", "role", "branch", "phone", "prefer")
KEY = re.compile(r"^[a-z0-9][\w.-]*$")


class RosterError(ValueError):
    """A roster edit that cannot be made; the message says why, for the person who asked."""


def parse_fields(words: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for w in words:
        name, eq, value = w.partition("=")
        name = name.strip().lower()
        if not eq or name not in FIELDS:
            raise RosterError(f"'{w}' is not a field; write name=..., role=..., branch=..., phone=... or prefer=...")
        fields[name] = value.strip()
    return fields


def change_roster(conn: sqlite3.Connection, directory: Directory, *, action: str, key: str,
                  fields: dict[str, str], by: str | None, via: str, now: float) -> tuple[Person | None, Person | None]:
    """Add, change or remove one person: store the overlay row and the audit row; returns (before, after).

    The caller puts the result into the live directory (chat) or just reports it (command line).
    """
    key = key.strip().lower()
    if not KEY.match(key):
        raise RosterError(f"'{key}' is not a usable key; use lower-case letters and digits, e.g. ann or ann.lee")
    before = directory.person(key)
    if action == "add" and before is not None:
        raise RosterError(f"'{key}' is already on the roster ({before.name}); use person set to change them")
    if action in ("set", "remove") and before is None:
        raise RosterError(f"nobody on the roster is called '{key}'")
    if action == "remove" and fields:
        raise RosterError("person remove takes only the key")
    if action in ("add", "set") and not fields:
        raise RosterError("say what to set, e.g. role=staff branch=central")
    if action == "add":
        for needed in ("name", "role"):
            if needed not in fields:
                raise RosterError(f"a new person needs {needed}=...")
    after: Person | None = None
    if action != "remove":
        data = before.model_dump(mode="json", by_alias=True) if before else {"key": key}
        for name, value in fields.items():
            if name == "branch":
                value = value.lower()
                if value in ("", "none", "-", "all"):
                    data["branch"] = None
                    continue
                if value not in directory.service.branches:
                    raise RosterError(f"unknown branch '{value}'; use one of: {', '.join(directory.service.branches)}")
            if name == "role":
                value = value.lower().replace(" ", "_").replace("-", "_")
                if value not in {r.value for r in Role}:
                    raise RosterError(f"unknown role '{value}'; use volunteer, staff, duty_manager or admin")
            if name == "name" and not value:
                raise RosterError("a name cannot be empty")
            data[name] = value
        try:
            after = Person.model_validate(data)
        except ValueError as e:
            raise RosterError(f"that does not make a valid person: {e}") from None
    admins = [p for p in directory.people.values() if p.role == Role.admin]
    if before and before.role == Role.admin and len(admins) == 1 and (after is None or after.role != Role.admin):
        raise RosterError("that would leave the service with no admin; make someone else admin first")
    conn.execute("INSERT INTO roster_overlay(key, data, at, by) VALUES(?,?,?,?) ON CONFLICT(key) DO UPDATE"
                 " SET data=excluded.data, at=excluded.at, by=excluded.by",
                 (key, _without_accounts(after), now, by))
    conn.execute("INSERT INTO roster_audit(at, by, via, person, action, before, after) VALUES(?,?,?,?,?,?,?)",
                 (now, by, via, key, action, before.model_dump_json(by_alias=True) if before else None,
                  after.model_dump_json(by_alias=True) if after else None))
    if action == "remove":  # a leaver: their phone, invites and records do not pass to a future holder of the key
        assert before is not None
        try:
            privacy.retire(conn, key, before.name, now=now, by=by)
        except privacy.StillActive as e:
            raise RosterError(str(e)) from None
    return before, after


def _without_accounts(p: Person | None) -> str | None:
    """The overlay keeps roster fields only: chat accounts belong to the service file and registration."""
    return p.model_copy(update={"telegram": None, "slack": None}).model_dump_json(by_alias=True) if p else None


def summary(before: Person | None, after: Person | None) -> str:
    if before is None and after is not None:
        return f"added {after.name} ({ROLE_NAMES[after.role]}, {after.branch or 'all branches'})"
    if after is None and before is not None:
        return f"removed {before.name}"
    assert before and after
    changes = []
    for f in FIELDS:
        old, new = getattr(before, f), getattr(after, f)
        if old != new:
            changes.append(f"{f} {_show(old)} -> {_show(new)}")
    return f"changed {after.name}: " + (", ".join(changes) or "nothing")


def _show(v: object) -> str:
    return ROLE_NAMES[v] if isinstance(v, Role) else (str(v) if v not in (None, "") else "(none)")


def history_lines(conn: sqlite3.Connection, directory: Directory, key: str | None, limit: int = 20) -> list[str]:
    sql = "SELECT * FROM roster_audit" + (" WHERE person=?" if key else "") + " ORDER BY id DESC LIMIT ?"
    rows = conn.execute(sql, ((key,) if key else ()) + (limit,)).fetchall()
    if not rows:
        return ["No roster changes recorded" + (f" for {key}." if key else ".")]
    lines = ["Roster changes, newest first:"]
    for r in rows:
        before = Person.model_validate(json.loads(r["before"])) if r["before"] else None
        after = Person.model_validate(json.loads(r["after"])) if r["after"] else None
        when = directory.local(r["at"]).strftime("%d %b %H:%M")
        lines.append(f"{when} {r['by'] or '?'} ({r['via']}): {summary(before, after)}")
    return lines


def rota_warnings(directory: Directory, before: Person | None, after: Person | None) -> str:
    key = (after or before).key if (after or before) else ""
    on_rota = any(e.person == key for e in (*directory.service.rota, *directory.service.overrides))
    if on_rota and (after is None or not after.may(Role.duty_manager)):
        return " They are on the duty rota, which will skip them now: check the rota in the service file."
    return ""


@command("person", permission="edit_roster", help="add, change or remove someone on the roster",
         usage='person add <key> name="Ann Lee" role=staff branch=central phone=... | person set <key> role=... '
               "| person remove <key>")
def person_edit(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    try:
        words = shlex.split(args)
    except ValueError:
        say(tx, msg, person, "Check the quotes: person set ann name=\"Ann Lee\"")
        return
    if len(words) < 2 or words[0].lower() not in ("add", "set", "change", "remove", "delete"):
        say(tx, msg, person, "Try: person add ann name=\"Ann Lee\" role=staff branch=central phone=\"+44 ...\"\n"
                             "or: person set ann role=duty_manager\nor: person remove ann")
        return
    action = {"change": "set", "delete": "remove"}.get(words[0].lower(), words[0].lower())
    key = words[1].lower()
    if action == "remove" and key == person.key:
        say(tx, msg, person, "You cannot remove yourself; ask another admin.")
        return
    try:
        before, after = change_roster(tx.conn, tx.directory, action=action, key=key, fields=parse_fields(words[2:]),
                                      by=person.key, via="chat", now=tx.now)
    except RosterError as e:
        say(tx, msg, person, f"Not changed: {e}.")
        return
    if after is None:
        tx.then(lambda: tx.directory.remove(key))  # after the commit: a rollback must not leave them in memory
    else:
        tx.then(lambda: tx.directory.put(after))
    text = f"Saved: {summary(before, after)}." + rota_warnings(tx.directory, before, after)
    if action == "add":
        text += " They can use the bot once their chat account is linked (invite)."
    say(tx, msg, person, text)
