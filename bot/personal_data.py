"""People's data, declared by each table's owner: what it holds, and the three acts on it.

Each capability (and the core) that owns a table with a person key or free text declares an
`Owner` and adds it to the App (`app.data_owners`, bot/compose.py). `subject-access`, `erase`
and `purge` are compositions of the owners' functions, in App order; a test fails when a table
with a text or person column has no owner declaring it, so a new table cannot be forgotten.

The owner knows its rows; this module knows nothing about any table. It gives owners the shared
parts: whole-word matching of names and phone numbers (`matches`), replacing them and the person's
own words in text or JSON (`scrub`, `scrubbed`), a subject-access section by key or by text
(`section`), and, inside a purge, the retention in force (`policy()`: cut-offs and --delete).
Erase is two passes: subject access first collects the person's own words (`Found.words`: their
notes, typed answers, requests), then every owner forgets them with those words, so copies of what
they typed (messages already sent to others, cards, stubs) are replaced too.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

Conn = Any  # a store connection (sqlite3.Connection or bot.store.pg.Connection), inside one transaction


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: the roster key where there is one, and the names and phone numbers
    by which free text may mention them (matched as whole words, case-insensitively)."""

    key: str | None
    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # their own words (notes, form answers), replaced in every copy by erase
    accounts: tuple[tuple[str, str], ...] = ()  # (platform, user id) of their bound chat accounts (registration's)


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
    words: list[str] = field(default_factory=list)  # the person's own words in these rows, to find their copies


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


# --- what every owner shares: matching and replacing a person in free text -------------------------------------
ERASED = "[erased]"  # what replaces a name, a phone number or the person's own words
MIN_WORDS = 8  # shorter fragments of their own words ("yes", "staff") are too common to replace everywhere


@dataclass(frozen=True)
class Policy:
    """How long things are kept, for one purge: the owners' `purge(conn, now, dry_run)` read it with
    `policy()` (the composition sets it), so the owner interface stays three small functions."""

    cutoff: float  # records (incidents, alerts, sessions...) logged before this go
    messages_cutoff: float  # delivered message bodies, relayed requests and event ids older than this go
    delete: bool = False  # delete rows rather than anonymise them (`saferbot purge --delete`)


_POLICY: ContextVar[Policy | None] = ContextVar("saferbot_retention_policy", default=None)


def policy(now: float = 0.0) -> Policy:
    """The purge's policy; outside a purge, six years and 30 days before `now` (the defaults)."""
    return _POLICY.get() or Policy(now - 6 * 365.25 * 86400, now - 30 * 86400)


def _phone_pattern(phone: str) -> str | None:
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("44"):
        digits = digits[2:]
    digits = digits.lstrip("0")
    if len(digits) < 6:
        return None
    return r"(?:\+?\s*44\s*(?:\(0\))?\s*|0)?" + r"[\s.-]*".join(digits)


@lru_cache(maxsize=64)
def _pattern(names: tuple[str, ...], phones: tuple[str, ...], words: tuple[str, ...]) -> re.Pattern[str] | None:
    parts = [r"(?<!\w)" + r"\s+".join(map(re.escape, n.split())) + r"(?!\w)" for n in names if n.strip()]
    parts += [p for p in map(_phone_pattern, phones) if p]
    for w in sorted({w.strip() for w in words if len(w.strip()) >= MIN_WORDS}, key=len, reverse=True):
        parts += [re.escape(w), re.escape(html.escape(w, quote=False))]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def matcher(subject: Subject) -> re.Pattern[str] | None:
    """Whole-word names, phone numbers however spaced, and their own words (each at least MIN_WORDS long)."""
    return _pattern(subject.names, subject.phones, subject.words)


def matches(subject: Subject, value: object) -> list[str]:
    """What in `value` (text or JSON text) names the person, as found: for the officer's check."""
    pat = matcher(subject)
    if pat is None or not isinstance(value, str) or not value:
        return []
    return sorted({m.group(0) for m in pat.finditer(value)})


def _scrub(value: Any, pat: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pat.sub(ERASED, value)
    if isinstance(value, list):
        return [_scrub(v, pat) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, pat) for k, v in value.items()}
    return value


def scrub(subject: Subject, value: str | None) -> str | None:
    """`value` with the person's names, phone numbers and own words replaced by ERASED; JSON stays JSON."""
    pat = matcher(subject)
    if pat is None or not value or not pat.search(value):
        return value
    if value[:1] in "[{":
        try:
            return json.dumps(_scrub(json.loads(value), pat), ensure_ascii=False)
        except ValueError:
            pass
    return pat.sub(ERASED, value)


def scrub_table(conn: Conn, holding: Holding, subject: Subject, dry_run: bool, where: str = "",
                args: tuple = ()) -> int:
    """Replace the person in every declared text column of `holding.table` (only in rows matching `where`,
    if given); returns the values (to be) changed. Rows are updated by their old value, so no table needs
    a particular key for this."""
    changed = 0
    only = f" AND ({where})" if where else ""
    for col in holding.text_columns:
        rows = conn.execute(f"SELECT DISTINCT {col} FROM {holding.table} WHERE {col} IS NOT NULL{only}", args).fetchall()
        for old in sorted((r[0] for r in rows), key=str):
            new = scrub(subject, old)
            if new != old:
                changed += 1
                if not dry_run:
                    conn.execute(f"UPDATE {holding.table} SET {col}=? WHERE {col}=?{only}", (new, old, *args))
    return changed


def named_rows(conn: Conn, holding: Holding, subject: Subject, label: Callable[[dict], str]) -> tuple[list[dict], list[str]]:
    """Rows of `holding` whose person columns hold the subject's key, or whose text names them; and, for
    each row found by text only, a line saying what matched (so an officer can check it)."""
    rows, by_text = [], []
    for r in conn.execute(f"SELECT * FROM {holding.table}").fetchall():
        row = dict(r)
        if subject.key and any(row.get(c) == subject.key for c in holding.person_columns):
            rows.append(row)
            continue
        hits = {c: matches(subject, row.get(c)) for c in holding.text_columns}
        hits = {c: h for c, h in hits.items() if h}
        if hits:
            rows.append(row)
            by_text.append(f"{label(row)}: " + "; ".join(f"{', '.join(map(repr, h))} in {c}" for c, h in hits.items()))
    return rows, by_text


# --- the compositions: subject access, erase and purge over every owner -----------------------------------------
def _with_words(subject: Subject, found: list[Found]) -> Subject:
    """The subject, with the person's own words that the owners found added."""
    words = {w for f in found for w in f.words if isinstance(w, str) and len(w.strip()) >= MIN_WORDS}
    return replace(subject, words=tuple(sorted(set(subject.words) | words)))


def _joined(dones: list[Done]) -> Done:
    return Done([c for d in dones for c in d.changed], [k for d in dones for k in d.kept])


def subject_access(owners: list[Owner], conn: Conn, subject: Subject) -> list[Found]:
    """Every owner's sections, in App order; asked twice, the second time with the person's own words
    from the first, so the copies of what they typed (messages to others, cards, stubs) are found too."""
    first = [f for o in owners for f in o.about(conn, subject)]
    wider = _with_words(subject, first)
    return first if wider == subject else [f for o in owners for f in o.about(conn, wider)]


def erase(owners: list[Owner], conn: Conn, subject: Subject, dry_run: bool) -> Done:
    """Every owner forgets the person; their own words (found by subject access) are replaced in every copy."""
    full = _with_words(subject, subject_access(owners, conn, subject))
    return _joined([o.forget(conn, full, dry_run) for o in owners])


def purge(owners: list[Owner], conn: Conn, now: float, dry_run: bool, rules: Policy) -> Done:
    """Every owner removes what is past its retention under `rules`."""
    token = _POLICY.set(rules)
    try:
        return _joined([o.purge(conn, now, dry_run) for o in owners])
    finally:
        _POLICY.reset(token)


# --- small helpers for owners ----------------------------------------------------------------------------------
def section(conn: Conn, holding: Holding, subject: Subject, title: str, label: Callable[[dict], str],
            words: Callable[[dict], list[str]] | None = None) -> Found:
    """A subject-access section for one holding: rows by key or naming them (words: the person's own
    words in a row found by key, so their copies elsewhere are found and erased too)."""
    rows, by_text = named_rows(conn, holding, subject, label)
    mine = [w for r in rows if words and subject.key and any(r.get(c) == subject.key for c in holding.person_columns)
            for w in words(r) if isinstance(w, str)]
    return Found(title, holding.retention, rows, by_text, mine)


def set_key(conn: Conn, table: str, columns: tuple[str, ...], key: str | None, value: object, dry_run: bool,
            verb: str = "anonymise") -> list[str]:
    """Replace the person's key in `columns` by `value` (NULL, or '' where the column is NOT NULL)."""
    out = []
    for col in columns:
        n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {col}=?", (key,)).fetchone()[0] if key else 0
        if n:
            out.append(f"{table}: {'would' if dry_run else 'did'} {verb} {n} row(s) by {col}")
            if not dry_run:
                conn.execute(f"UPDATE {table} SET {col}=? WHERE {col}=?", (value, key))
    return out


def delete_key(conn: Conn, table: str, column: str, key: str | None, dry_run: bool) -> list[str]:
    """Delete rows that exist only for the person (their chat accounts, their answer to a roll call)."""
    n = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column}=?", (key,)).fetchone()[0] if key else 0
    if n and not dry_run:
        conn.execute(f"DELETE FROM {table} WHERE {column}=?", (key,))
    return [f"{table}: {'would' if dry_run else 'did'} delete {n} row(s)"] if n else []


def scrubbed(conn: Conn, holding: Holding, subject: Subject, dry_run: bool, where: str = "",
             args: tuple = ()) -> list[str]:
    """Replace the person in the holding's text columns; a line saying how many values (would) change."""
    n = scrub_table(conn, holding, subject, dry_run, where, args)
    verb = "would replace" if dry_run else "replaced"
    return [f"{holding.table}: {verb} their name, phone or words in {n} value(s)"] if n else []


def nothing_to_purge(conn: Conn, now: float, dry_run: bool) -> Done:
    return Done()
