"""The store: one SQLite file, the single source of truth.

Every unit of work (one inbound message, one wake-up) is a plain function run on
aiosqlite's database thread inside one transaction. Doing the whole unit in one hop
keeps an alert's writes atomic and costs one thread round trip instead of one per
statement (about 120 us each here), which is what keeps alert latency low.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from .migrations import COMPONENTS

T = TypeVar("T")


def statements(script: str) -> list[str]:
    """Split a migration step into whole statements (a trigger body holds ';' of its own)."""
    out: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n;"):
                out.append(current)
            current = ""
    if current.strip(" \n;"):
        out.append(current)
    return out


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    for component, steps in COMPONENTS.items():
        row = conn.execute("SELECT version FROM schema_version WHERE component=?", (component,)).fetchone()
        have = row[0] if row else 0
        for number, step in enumerate(steps[have:], start=have + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements(step):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version(component, version) VALUES(?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                    (component, number),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise


def private(db: Path) -> None:
    """The database and its WAL/SHM files are readable by the service's own user only (0600)."""
    for suffix in ("", "-wal", "-shm"):
        f = db.with_name(db.name + suffix)
        if f.exists():
            os.chmod(f, 0o600)


class Store:
    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        db = await aiosqlite.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute("PRAGMA secure_delete=ON")  # deleted personal data is overwritten, not left in free pages
            store = cls(db)
            await store._call(migrate)
        except BaseException:
            await db.close()  # else its thread keeps the process alive: a bad file must end in an exit, not a hang
            raise
        private(Path(path))
        return store

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # aiosqlite's own queue onto its database thread (every public method uses it)
        return await self._db._execute(fn, self._db._conn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(conn, *args) in one write transaction; roll back if it raises."""
        return await self._call(_in_transaction, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(fn, *args)

    async def close(self) -> None:
        await self._db.close()


def _in_transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT (disk full) can leave the transaction open
            conn.execute("ROLLBACK")
        raise
    return result
