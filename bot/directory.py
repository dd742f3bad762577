"""People: who someone is on each platform, who is on duty, who is on shift.

Built from the service file; chat accounts bound later (registration) are loaded
from the store and added with `bind`. Lookups are in memory because every message
needs one.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from .model import Person, Role, Service


class Directory:
    def __init__(self, service: Service):
        self.service = service
        self.people: dict[str, Person] = dict(service.people)
        self._by_account: dict[tuple[str, str], str] = {}
        for key, p in self.people.items():
            self._index(key, p)

    def _index(self, key: str, p: Person) -> None:
        if p.telegram is not None:
            self._by_account[("telegram", str(p.telegram))] = key
        if p.slack:
            self._by_account[("slack", p.slack)] = key

    def person(self, key: str | None) -> Person | None:
        return self.people.get(key) if key else None

    def find(self, platform: str, user_id: str) -> Person | None:
        if platform == "console":
            return self.people.get(user_id)
        return self.person(self._by_account.get((platform, user_id)))

    def bind(self, key: str, platform: str, user_id: str) -> Person:
        """Attach a chat account to a rostered person (registration)."""
        p = self.people[key]
        value: int | str = int(user_id) if platform == "telegram" else user_id
        p = p.model_copy(update={platform: value})
        self.people[key] = p
        self._by_account[(platform, user_id)] = key
        return p

    def put(self, p: Person) -> None:
        """Add or replace a person (roster edits)."""
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

    def duty_managers(self, conn: sqlite3.Connection | None, branch: str | None, when: datetime) -> list[str]:
        """Who is duty manager for the branch at `when` (local time): overrides beat the weekly rota."""
        day = when.date()
        t = when.time()
        dated = [o for o in self.service.overrides if o.branch == branch and o.date == day]
        if dated:
            return [o.person for o in dated if o.start <= t <= o.end and o.person in self.people]
        weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[when.weekday()]
        return [
            r.person
            for r in self.service.rota
            if r.branch == branch and weekday in r.days and r.start <= t <= r.end and r.person in self.people
        ]

    def on_shift(self, conn: sqlite3.Connection, branch: str | None) -> list[str]:
        """People at the branch who have said they are on shift."""
        rows = conn.execute("SELECT person FROM shifts WHERE on_shift=1").fetchall()
        keys = {r[0] for r in rows}
        return [p.key for p in self.at_branch(branch) if p.key in keys]
