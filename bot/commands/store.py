"""`saferbot migrate-store`: copy a whole store to another engine (SQLite to PostgreSQL, or back).

    saferbot migrate-store --from /var/lib/saferbot/saferbot.db --to postgresql://saferbot@db1/saferbot

Why a copy through the store's own connections rather than a dump and a restore: the two
engines spell their schemas differently (bot.store.dialect), so the target is migrated by
this saferbot itself and only the rows are carried over, each table in key order with its
ids kept, in one transaction on the target. Nothing is written to the target unless all
of it is. The source's rows are only read (its schema is first brought up to this
saferbot's version, as starting saferbot would do, so both sides have the same columns).
While copying, the source's instance lock (or lease) is held, so no bot can start on it
and write rows that the copy would miss; the target's too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..instance import InstanceLock
from ..settings import Settings, hide_password
from ..store import StoreError, columns, connect, is_url, pg, transaction
from ..store.migrations import newer
from ..storecheck import why
from .ops import fail

BATCH = 1000  # rows per executemany: bounded memory whatever the store's size
NOT_COPIED = {"schema_version": "made by this saferbot's own migrations on the target",
              "lease": "a new deployment starts with no active instance"}
Conn = sqlite3.Connection | pg.Connection


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate-store", help="copy every row from one store to an empty one (SQLite <-> PostgreSQL)",
                       description="Copy a stopped saferbot's data into an empty store, check the row counts, "
                                   "and say how to switch over. The source is only read.")
    p.add_argument("--from", dest="source", required=True, metavar="SRC",
                   help="the store now in use: a SQLite file or a postgresql:// URL")
    p.add_argument("--to", dest="target", required=True, metavar="DST",
                   help="an empty store: a SQLite file or a postgresql:// URL (an empty database or schema)")
    p.set_defaults(func=cmd_migrate_store)


def shown(target: str) -> str:
    """A store for people to read: the engine's name, and a URL's password never shown."""
    if is_url(target):
        return "PostgreSQL " + hide_password(target)
    return f"SQLite {Path(target).resolve()}"


def same_store(a: str, b: str) -> bool:
    if is_url(a) or is_url(b):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


# --- who is running on a store ----------------------------------------------------------------------------
class Held:
    """The source's (or target's) instance lock or lease, held by this command while it copies."""

    def __init__(self, target: str, ttl: float):
        self.target = target
        self.ttl = ttl
        self._lock: InstanceLock | None = None
        self._lease: Any = None

    async def take(self) -> str | None:
        """Hold it; or, when a bot holds it, who that is."""
        if not is_url(self.target):
            Path(self.target).resolve().parent.mkdir(parents=True, exist_ok=True)
            self._lock = InstanceLock(Path(self.target))
            if self._lock.try_acquire():
                return None
            self._lock = None
            return InstanceLock(Path(self.target)).holder()
        from .. import lease

        await asyncio.to_thread(lambda: connect(self.target).close())  # the lease table, made by migrations
        self._lease = lease.Lease(self.target, self.ttl)
        self._lease.holder = f"saferbot migrate-store on host {socket.gethostname()} pid {os.getpid()}"
        if await self._lease.try_acquire():  # only when the lease has expired by the database's clock
            return None
        self._lease = None
        return await lease.read(self.target)

    async def release(self) -> None:
        if self._lock:
            self._lock.release()
        if self._lease:
            await self._lease.release()


@contextlib.asynccontextmanager
async def holding(target: str, ttl: float, role: str) -> AsyncIterator[str | None]:
    """Yields None while held, else the message refusing the copy."""
    held = Held(target, ttl)
    holder = await held.take()
    try:
        yield None if holder is None else (
            f"saferbot is running on the {role} store ({holder}); stop every instance first "
            "(systemctl stop saferbot, or docker compose stop), then run migrate-store again. Nothing was changed.")
    finally:
        await held.release()


# --- reading the schema -------------------------------------------------------------------------------------
def tables(conn: Conn) -> list[str]:
    if isinstance(conn, pg.Connection):
        rows = conn.execute("SELECT table_name FROM information_schema.tables"
                            " WHERE table_schema=current_schema() AND table_type='BASE TABLE'")
    else:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
    return sorted(r[0] for r in rows)


def parents(conn: Conn, table: str) -> set[str]:
    """The tables `table` points at with a foreign key: they are filled first."""
    if isinstance(conn, pg.Connection):
        rows = conn.raw("SELECT p.relname FROM pg_constraint k JOIN pg_class c ON c.oid=k.conrelid"
                        " JOIN pg_class p ON p.oid=k.confrelid WHERE k.contype='f' AND c.relname=%s"
                        " AND c.relnamespace=current_schema()::regnamespace", (table,))
        return {r[0] for r in rows}
    return {r[2] for r in conn.execute(f'PRAGMA foreign_key_list("{table}")')}


def fill_order(conn: Conn, names: list[str]) -> list[str]:
    """Parents before children (alphabetical otherwise), so foreign keys hold row by row."""
    waiting = {t: parents(conn, t) & set(names) - {t} for t in names}
    out: list[str] = []
    while waiting:
        ready = sorted(t for t, need in waiting.items() if not need - set(out))
        if not ready:  # a cycle: not in saferbot's schema; let the database say which row fails
            ready = sorted(waiting)
        out.append(ready[0])
        del waiting[ready[0]]
    return out


def key_of(conn: Conn, table: str) -> str:
    """The column rows are ordered by: SQLite's rowid, or PostgreSQL's identity column (id or rowid)."""
    if isinstance(conn, pg.Connection):
        return dict(conn.keys()).get(table, "rowid")
    return "rowid"


def count(conn: Conn, table: str) -> int:
    return int(conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0])


def newer_parts(conn: Conn) -> list[str]:
    return newer(conn.execute("SELECT component, version FROM schema_version").fetchall())


# --- the copy -----------------------------------------------------------------------------------------------
@dataclass
class Plan:
    copy: list[str]                      # in fill order
    cols: dict[str, list[str]]           # the columns both sides have, per table
    source_only: list[str] = field(default_factory=list)
    source_counts: dict[str, int] = field(default_factory=dict)


def plan(src: Conn, dst: Conn) -> Plan:
    theirs, ours = set(tables(src)), set(tables(dst))
    both = sorted((theirs & ours) - set(NOT_COPIED))
    cols = {t: sorted(columns(src, t) & columns(dst, t)) for t in both}
    return Plan(fill_order(dst, both), cols, sorted(theirs - ours - set(NOT_COPIED)))


def occupied(dst: Conn) -> tuple[str, int] | None:
    """The first table of the target that already holds rows (schema_version and lease aside)."""
    for t in tables(dst):
        if t not in NOT_COPIED:
            n = count(dst, t)
            if n:
                return t, n
    return None


def batches(src: Conn, table: str, cols: list[str]):
    """The source's rows in key order, BATCH at a time (keyset paging: no OFFSET rescans)."""
    key = key_of(src, table)
    names = ", ".join(f'"{c}"' for c in cols)
    last = None
    while True:
        where = "" if last is None else f' WHERE "{key}" > ?'
        rows = src.execute(f'SELECT "{key}", {names} FROM "{table}"{where} ORDER BY "{key}" LIMIT {BATCH}',
                           () if last is None else (last,)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [tuple(r[1:]) for r in rows]


def fill(dst: Conn, src: Conn, p: Plan) -> None:
    """On the target, inside its one transaction: every table's rows, then the identity sequences."""
    for table in p.copy:
        cols = p.cols[table]
        names = ", ".join(f'"{c}"' for c in cols)
        insert = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(cols))})'
        for rows in batches(src, table, cols):
            dst.executemany(insert, rows)
    if isinstance(dst, pg.Connection):
        restart_sequences(dst)


def restart_sequences(dst: pg.Connection) -> None:
    """Each identity sequence continues after the highest copied key, so new rows never collide."""
    identity = dst.keys()  # (table, key column) pairs, not a dict
    for table, key in identity:
        dst.raw(f'SELECT setval(pg_get_serial_sequence(format(\'%%I.%%I\', current_schema(), %s::text), %s),'
                f' COALESCE(MAX("{key}"), 0) + 1, false) FROM "{table}"', (table, key))


def snapshot(src: Conn) -> None:
    """One consistent view of the source for the whole copy."""
    if isinstance(src, pg.Connection):
        src.raw("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    else:
        src.execute("BEGIN")


def copy(source: str, target: str, started: Callable[[], None]) -> tuple[Plan, dict[str, int]] | str:
    """Copy; (the plan, the target's counts) when done, or a refusal to show (nothing written)."""
    src = connect(source)
    try:
        newer = newer_parts(src)
        if newer:
            return f"the source was written by a newer saferbot (parts: {', '.join(newer)}); upgrade saferbot first"
        dst = connect(target)
        try:
            full = occupied(dst)
            if full:
                return (f"the target already holds data (table {full[0]}: {full[1]} rows); migrate-store copies "
                        "into an empty store only. Use a new empty database (createdb -O saferbot saferbot) or "
                        "schema, or a SQLite file that does not exist yet. Nothing was changed.")
            snapshot(src)
            p = plan(src, dst)
            p.source_counts = {t: count(src, t) for t in p.copy}
            if not sum(p.source_counts.values()):
                return (f"the source holds no saferbot data ({shown(source)}); check --from: it is the store "
                        "saferbot uses now (its SAFERBOT_DB). Nothing was changed.")
            started()
            transaction(dst, fill, src, p)
            src.execute("COMMIT")
            return p, {t: count(dst, t) for t in p.copy}
        finally:
            dst.close()
    finally:
        src.close()


async def migrate(source: str, target: str, ttl: float) -> int:
    async with holding(source, ttl, "source") as busy:
        if busy:
            return fail(busy)
        async with holding(target, ttl, "target") as busy_target:
            if busy_target:
                return fail(busy_target)
            new_file = None if is_url(target) or Path(target).exists() else Path(target)
            try:
                result = await asyncio.to_thread(copy, source, target, lambda: announce(source, target))
            except StoreError as e:
                result = failed(f"the copy failed ({why(e, source, target)}). The target was rolled back: "
                                "nothing was written to it, and the source is unchanged.")
            if new_file and not isinstance(result, tuple):  # refused or failed: leave no empty file behind
                for suffix in ("", "-wal", "-shm"):
                    new_file.with_name(new_file.name + suffix).unlink(missing_ok=True)
    if isinstance(result, str):
        return fail(result)
    if isinstance(result, int):
        return result
    return report(source, target, *result)


def announce(source: str, target: str) -> None:
    print(f"Copying saferbot's data\n  from {shown(source)}\n  to   {shown(target)}\n"
          "Both are held for the copy: no saferbot can start on them until it ends.", flush=True)


def report(source: str, target: str, p: Plan, after: dict[str, int]) -> int:
    width = max(len(t) for t in [*p.copy, "table"])
    print(f"\n{'table':<{width}}  {'source':>8}  {'target':>8}")
    bad = []
    for t in sorted(p.copy):
        same = p.source_counts[t] == after[t]
        if not same:
            bad.append(t)
        print(f"{t:<{width}}  {p.source_counts[t]:>8}  {after[t]:>8}{'' if same else '  MISMATCH'}")
    total = sum(p.source_counts.values()), sum(after.values())
    print(f"{'total':<{width}}  {total[0]:>8}  {total[1]:>8}\n")
    for t, reason in NOT_COPIED.items():
        print(f"Not copied: {t} ({reason}).")
    for t in p.source_only:
        print(f"Not copied: {t} (this saferbot has no such table).")
    if bad:
        return failed(f"the row counts differ for {', '.join(bad)}: do not switch over; keep using the source "
                      "and report this (the target can be emptied and the copy run again)")
    dst = shown(target).split(" ", 1)[1]
    hint = " (with the password in place of ***)" if "***" in dst else ""
    print(f"\nAll {len(p.copy)} tables copied, {total[1]} rows: the counts match.\n"
          f"Next: set SAFERBOT_DB={dst}{hint} and start saferbot.\n"
          "The source is left as it was: keep it until you are happy with the move.")
    return 0


def failed(message: str) -> int:
    """The copy was tried and did not work (a refusal before it is fail(): exit 2)."""
    fail(message)
    return 1


def cmd_migrate_store(args: argparse.Namespace, settings: Settings) -> int:
    source, target = str(args.source), str(args.target)
    if same_store(source, target):
        return fail("--from and --to name the same store")
    if not is_url(source) and not Path(source).is_file():
        return fail(f"there is no database at {source} (--from is the store saferbot uses now: SAFERBOT_DB)")
    try:
        return asyncio.run(migrate(source, target, settings.lease_ttl))
    except (*StoreError, OSError) as e:
        return fail(f"cannot open a store ({why(e, source, target)}); check the path or URL, that the server "
                    "is running and that the user may connect and create tables. Nothing was changed.")
