"""What the directory asks the roster (`bot.directory.Duty`): live covers, on/off statements and the roster
edits kept in the store, one query each. The App hands them to the directory (bot/compose.py), so the core
never reads the roster's tables; the duty-manager lookup runs for every alert, hence one query a question.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from bot.model import Person


def covers(conn: Any, branch: str, ts: float) -> Callable[[], list[Any]]:
    """Live covers for the branch at `ts` (someone said `cover until ...`), newest first: asked now, read
    when the returned function is called (bot.directory.Duty)."""
    try:
        cur = conn.execute("SELECT * FROM covers WHERE branch=? AND start<=? AND until>? AND ended_at IS NULL"
                           " ORDER BY id DESC", (branch, ts, ts))
    except sqlite3.OperationalError:  # the roster's tables are not there (a bare store)
        return list
    return cur.fetchall


def shift_statements(conn: Any, since: float) -> Callable[[], dict[str, bool]]:
    """Each person's own 'on shift' / 'off shift' said after `since`: person -> on (asked now, read later)."""
    cur = conn.execute("SELECT person, on_shift FROM shifts WHERE since>? ORDER BY since", (since,))
    return lambda: {r[0]: bool(r[1]) for r in cur.fetchall()}


def roster_edits(conn: Any) -> list[tuple[str, Person | None]]:
    """Roster edits kept in the store, oldest first: (key, person) or (key, None) when removed."""
    try:
        rows = conn.execute("SELECT key, data FROM roster_overlay ORDER BY at, key").fetchall()
    except sqlite3.OperationalError:
        return []
    return [(r[0], Person.model_validate(json.loads(r[1])) if r[1] else None) for r in rows]
