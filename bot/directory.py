"""People: who someone is on each platform, who is on duty, who is on shift.

Built from the service file; roster edits made from chat or the command line are an
overlay kept in the store and applied at start-up, and chat accounts bound later
(registration) are loaded from the store and added with `bind`. Lookups are in memory
because every message needs one.

The directory reads no table: what the store holds about duty (covers, on/off statements,
roster edits, the keys of those who left) it asks its `Duty`, which the App hands in
(bot/compose.py: the roster and privacy capabilities own those tables).

Who is duty manager for a branch at a moment, first match wins:
  1. someone covering (`cover until 17:00`),
  2. a dated override for the branch that day (it replaces the weekly pattern that day),
     else a dated override for the branch's area,
  3. the weekly rota for the branch, else the weekly rota for the branch's area.
Nobody found is a gap: the ladder's fallback is used and the gap goes on the timeline.

Who is on shift at a branch: a person's own "on shift" / "off shift" counts until
they say otherwise or for `shift_expiry` (14 h by default), whichever is sooner;
without a live statement, their `hours:` in the service file decide.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .model import WEEKDAYS, Person, Role, Service, parse_duration

Conn = Any  # a store connection (sqlite3, or bot.store.pg's connection on PostgreSQL)


@dataclass(frozen=True)
class Duty:
    """What the directory asks of the capabilities that own duty's tables, one query each (the duty-manager
    lookup runs for every alert). Each is a plain function of a store connection.

    `covers` and `shifts` ask at once and return a function that reads the answer: on PostgreSQL questions
    asked before any is read are answered in one wait for the server (`Directory.ask`)."""

    covers: Callable[[Conn, str, float], Callable[[], list[Any]]]  # (conn, branch, at) -> live covers, newest first
    shifts: Callable[[Conn, float], Callable[[], dict[str, bool]]]  # (conn, since) -> person -> on, said since then
    roster_edits: Callable[[Conn], list[tuple[str, Person | None]]]  # (key, person), or (key, None) when removed
    retired: Callable[[Conn], set[str]]  # keys whose holder left (a key once removed is a new person now)


NO_DUTY = Duty(lambda *_: list, lambda *_: dict, lambda *_: [], lambda *_: set())  # no capability keeps duty's tables


class DutyNow:
    """Who covers a branch and who said they are on or off shift, at one moment: asked together, read when
    first used (`Directory.ask`)."""

    def __init__(self, covers: Callable[[], list[Any]], stated: Callable[[], dict[str, bool]]):
        self._covers, self._stated = covers, stated

    @cached_property
    def covers(self) -> list[Any]:
        return self._covers()

    @cached_property
    def stated(self) -> dict[str, bool]:
        return self._stated()


class Starting(Protocol):
    """What the directory's start-up needs of the engine (the directory never imports the engine)."""

    directory: Directory
    clock: Any
    settings: Any
    store: Any


class Directory:
    def __init__(self, service: Service, duty: Duty):
        self.service = service
        self.duty = duty  # covers, shift statements, roster edits and retired keys, from their owners (the App)
        self.people: dict[str, Person] = dict(service.people)
        self._by_account: dict[tuple[str, str], str] = {}
        for key, p in self.people.items():
            self._index(key, p)
        self.clock = None  # the engine's clock once started (tests use a fake one)
        self.shift_expiry: int | None = None  # seconds; None (before start-up) means statements never expire

    def _index(self, key: str, p: Person) -> None:
        if p.telegram is not None:
            self._by_account[("telegram", str(p.telegram))] = key
        if p.slack:
            self._by_account[("slack", p.slack)] = key

    # --- time ----------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now() if self.clock else time.time()

    def local(self, ts: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if ts is None else ts, ZoneInfo(self.service.timezone))

    # --- people ----------------------------------------------------------------------
    def person(self, key: str | None) -> Person | None:
        return self.people.get(key) if key else None

    def find(self, platform: str, user_id: str) -> Person | None:
        if platform == "console":
            return self.people.get(user_id)
        return self.person(self._by_account.get((platform, user_id)))

    def with_account(self, key: str, platform: str, user_id: str) -> Person:
        """The person as they will be with this chat account attached (changes nothing)."""
        value: int | str = int(user_id) if platform == "telegram" else user_id
        return self.people[key].model_copy(update={platform: value})

    def bind(self, key: str, platform: str, user_id: str) -> Person:
        """Attach a chat account to a rostered person (registration)."""
        p = self.with_account(key, platform, user_id)
        self.people[key] = p
        self._by_account[(platform, user_id)] = key
        return p

    def put(self, p: Person) -> None:
        """Add or replace a person (roster edits)."""
        self._by_account = {k: v for k, v in self._by_account.items() if v != p.key}
        self.people[p.key] = p
        self._index(p.key, p)

    def remove(self, key: str) -> None:
        self.people.pop(key, None)
        self._by_account = {k: v for k, v in self._by_account.items() if v != key}

    def at_branch(self, branch: str | None) -> list[Person]:
        return [p for p in self.people.values() if p.branch == branch]

    def with_role(self, role: Role, branch: str | None) -> list[Person]:
        """People of a role at the branch, plus those of that role with no branch (service-wide)."""
        return [p for p in self.people.values() if p.role == role and p.branch in (branch, None)]

    def branch_name(self, key: str | None) -> str:
        b = self.service.branches.get(key or "")
        return b.name if b else "no branch"

    def area_of(self, branch: str | None) -> str:
        b = self.service.branches.get(branch or "")
        return b.area if b else ""

    def scope_branches(self, scope: str) -> list[str]:
        """Branch keys for a branch key, an area name or `all` (empty when it is none of those)."""
        scope = scope.strip().lower()
        if scope == "all":
            return list(self.service.branches)
        if scope in self.service.branches:
            return [scope]
        return [k for k, b in self.service.branches.items() if b.area and b.area.lower() == scope]

    # --- duty --------------------------------------------------------------------------
    def ask(self, conn: Conn, branch: str | None, ts: float) -> DutyNow:
        """Ask the store now who covers the branch and who is on or off shift by their own word at `ts`; the
        answers are read when first used. An alert asks before its drill check, so on PostgreSQL the tier's
        duty reads are answered with that read, not one wait each (escalation.raise_alert)."""
        return DutyNow(self._covering(conn, branch, ts), self._stated(conn, ts))

    def covering(self, conn: Conn | None, branch: str | None, ts: float) -> list[Any]:
        """Live covers for the branch (someone said `cover until ...`), newest first."""
        return self._covering(conn, branch, ts)()

    def _covering(self, conn: Conn | None, branch: str | None, ts: float) -> Callable[[], list[Any]]:
        if conn is None or not branch:
            return list
        return self.duty.covers(conn, branch, ts)

    def duty_managers(self, conn: sqlite3.Connection | None, branch: str | None, when: datetime,
                      asked: DutyNow | None = None) -> list[str]:
        """Who is duty manager for the branch at `when` (local time): cover, then overrides, then the rota.
        `asked`: the store's answers for this branch and moment, asked earlier (`ask`)."""
        live = asked.covers if asked else self.covering(conn, branch, when.timestamp())
        covers = [r["person"] for r in live if self._manager(r["person"])]
        if covers:
            return list(dict.fromkeys(covers))
        day = when.date()
        t = when.time()
        area = self.area_of(branch)
        for field, value in (("branch", branch), ("area", area)):
            if not value:
                continue
            dated = [o for o in self.service.overrides if getattr(o, field) == value and o.date == day]
            if dated:
                return [o.person for o in dated if o.start <= t <= o.end and self._manager(o.person)]
        weekday = WEEKDAYS[when.weekday()]
        for field, value in (("branch", branch), ("area", area)):
            if not value:
                continue
            found = [r.person for r in self.service.rota if getattr(r, field) == value and weekday in r.days
                     and r.start <= t <= r.end and self._manager(r.person)]
            if found:
                return list(dict.fromkeys(found))
        return []

    def _manager(self, key: str) -> bool:
        """Still on the roster as a duty manager or admin (a roster edit may have changed that)."""
        p = self.people.get(key)
        return p is not None and p.may(Role.duty_manager)

    # --- shifts ------------------------------------------------------------------------
    def in_hours(self, p: Person, when: datetime) -> bool:
        weekday = WEEKDAYS[when.weekday()]
        t = when.time()
        return any(weekday in h.days and h.start <= t <= h.end for h in p.hours)

    def shift_state(self, conn: Conn, ts: float | None = None) -> dict[str, bool]:
        """Live on/off statements (younger than shift_expiry)."""
        return self._stated(conn, self.now() if ts is None else ts)()

    def _stated(self, conn: Conn, ts: float) -> Callable[[], dict[str, bool]]:
        return self.duty.shifts(conn, ts - self.shift_expiry if self.shift_expiry is not None else float("-inf"))

    def is_on_shift(self, conn: sqlite3.Connection, p: Person, ts: float | None = None) -> bool:
        ts = self.now() if ts is None else ts
        stated = self.shift_state(conn, ts)
        return stated[p.key] if p.key in stated else self.in_hours(p, self.local(ts))

    def on_shift(self, conn: sqlite3.Connection, branch: str | None, when: datetime | None = None,
                 asked: DutyNow | None = None) -> list[str]:
        """People at the branch who are on shift: their own word, else their working hours. `asked`: as for
        `duty_managers`."""
        ts = when.timestamp() if when else self.now()
        local = when or self.local(ts)
        stated = asked.stated if asked else self.shift_state(conn, ts)
        return [p.key for p in self.at_branch(branch)  # runs for every alert: hours only when a person has them
                if (stated[p.key] if p.key in stated else bool(p.hours) and self.in_hours(p, local))]


# --- roster overlay -------------------------------------------------------------------
def apply_overlay(directory: Directory, conn: Conn) -> None:
    """Apply the roster edits kept in the store (the duty's `roster_edits`) to the people in memory."""
    left = directory.duty.retired(conn)  # a key once removed is a new person: the leaver's accounts stay behind
    for key, p in directory.duty.roster_edits(conn):
        if p is None:
            directory.remove(key)
        else:  # chat accounts come from the service file (and registration's bindings), not the overlay
            base = directory.service.people.get(key)
            if base is not None and key not in left:
                p = p.model_copy(update={"telegram": base.telegram, "slack": base.slack})
            directory.put(p)


def reload(directory: Directory, conn: sqlite3.Connection,
           accounts: Callable[[Directory, sqlite3.Connection], None]) -> None:
    """Rebuild people from the service file, the stored roster edits and the chat accounts `accounts` binds
    (registration's, handed in: the directory does not read the bindings table) after a command-line edit
    made while the bot runs; swapped in whole, on the database thread."""
    fresh = Directory(directory.service, directory.duty)
    apply_overlay(fresh, conn)
    accounts(fresh, conn)
    directory.people, directory._by_account = fresh.people, fresh._by_account


async def startup(engine: Starting) -> None:
    """Start-up, first in the App's list (bot/compose.py): give the directory the engine's clock and
    settings, then apply roster edits (registration binds chat accounts last in the list)."""
    d = engine.directory
    d.clock = engine.clock
    d.shift_expiry = parse_duration(engine.settings.shift_expiry)
    assert engine.store is not None

    await engine.store.read(lambda conn: apply_overlay(d, conn))

