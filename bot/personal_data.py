"""People's data, declared by each table's owner: what it holds, and the three acts on it.

Each capability (and the core) that owns a table with a person key or free text declares an
`Owner` and adds it to the App (`app.data_owners`, bot/compose.py). `subject-access`, `erase`
and `purge` are compositions of the owners' functions, in App order; a test fails when a table
with a text or person column has no owner declaring it, so a new table cannot be forgotten.

The owner knows its rows; this module knows nothing about any table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Conn = Any  # a store connection (sqlite3.Connection or bot.store.pg.Connection), inside one transaction


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: the roster key where there is one, and the names and phone numbers
    by which free text may mention them (matched as whole words, case-insensitively)."""

    key: str | None
    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()


@dataclass(frozen=True)
class Holding:
    """One table's personal data, as its owner declares it."""

    table: str
    person_columns: tuple[str, ...] = ()  # columns holding a person key
    text_columns: tuple[str, ...] = ()  # columns holding free text, names or phone numbers (JSON included)
    retention: str = ""  # for people: "3 years after the incident (RIDDOR)", shown in subject access
    why: str = ""  # why it is held (the lawful basis in a few words), for docs/data-protection.md


@dataclass
class Found:
    """Subject access: one owner's section of the export."""

    title: str  # "Incidents reported by or naming them"
    retention: str
    rows: list[dict] = field(default_factory=list)
    matched_by_text: list[str] = field(default_factory=list)  # "INC-0003: 'Alice' in what happened", for an officer


@dataclass
class Done:
    """Erase or purge: what was (or, on a dry run, would be) changed, and what must stay and why."""

    changed: list[str] = field(default_factory=list)  # "cards: replaced the name in 4 card(s)"
    kept: list[str] = field(default_factory=list)  # "INC-0003: kept until 2029-05-01 (RIDDOR report, 3 years)"


@dataclass(frozen=True)
class Owner:
    """A table owner's declaration. Each function runs inside one transaction of the caller's."""

    name: str  # the capability: "incidents", "lone", "core", "bans"
    holdings: tuple[Holding, ...]
    about: Callable[[Conn, Subject], list[Found]]  # subject access: every row about or by the person
    forget: Callable[[Conn, Subject, bool], Done]  # erase (dry_run=True changes nothing)
    purge: Callable[[Conn, float, bool], Done]  # past retention at time `now` (dry_run as above)
