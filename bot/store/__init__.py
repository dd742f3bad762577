"""The store: one SQLite file (or one PostgreSQL database), the single source of truth.

Every unit of work (one inbound message, one wake-up) is a plain function run on
aiosqlite's database thread inside one transaction. Doing the whole unit in one hop
keeps an alert's writes atomic and costs one thread round trip instead of one per
statement (about 120 us each here), which is what keeps alert latency low.

`SAFERBOT_DB` picks the engine: a path is SQLite (the embedded default), a
`postgresql://` URL is PostgreSQL (bot.store.pg: the same functions on a psycopg
connection on one worker thread; bot.store.dialect rewrites the few SQL differences).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import psycopg

from ..settings import is_url
from . import dialect, pg
from .migrations import COMPONENTS, RENAMED
from .pg import Fenced

StoreError = (sqlite3.Error, psycopg.Error)  # what a failing store raises, whichever engine

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


def migrate(conn: sqlite3.Connection | pg.Connection) -> None:
    if isinstance(conn, pg.Connection):
        conn.raw("SELECT pg_advisory_lock(%s, hashtext(current_schema()))", (pg.MIGRATE_LOCK,))  # a second instance waits, then finds it done
        try:
            _migrate(conn, lambda c, st: c.raw(dialect.ddl(st)), "BEGIN")
        finally:
            conn.forget_keys()
            conn.raw("SELECT pg_advisory_unlock(%s, hashtext(current_schema()))", (pg.MIGRATE_LOCK,))
    else:
        _migrate(conn, lambda c, st: c.execute(st), "BEGIN IMMEDIATE")


def _migrate(conn, run: Callable[[Any, str], Any], begin: str) -> None:
    """Every pending step of every component in ONE transaction: one commit (and one fsync) for a new
    store instead of one per step, and a failing step leaves the store exactly as it was."""
    run(conn, "CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    conn.execute(begin)
    try:
        rename_components(conn)
        for component, steps in COMPONENTS.items():
            # read inside the write transaction: a second process migrating at the same moment
            # waits for it and then finds every step done, instead of applying one twice
            row = conn.execute("SELECT version FROM schema_version WHERE component=?", (component,)).fetchone()
            have = row[0] if row else 0
            for number, step in enumerate(steps[have:], start=have + 1):
                for statement in statements(step):
                    run(conn, statement)
                conn.execute(
                    "INSERT INTO schema_version(component, version) VALUES(?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                    (component, number),
                )
        follow_renames(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def rename_components(conn: sqlite3.Connection | pg.Connection) -> None:
    """A component recorded under its old name (RENAMED) is recorded under its new one too, once, inside the
    migration's transaction: its steps are not run again. The old record stays as an alias at the same
    version (`follow_renames`), so an instance not yet upgraded (the active one while its standby is,
    docs/postgresql.md) still finds its tables made and starts. Read first and written only when there is
    something to copy: a store done already is only read (doctor may open it as a read-only user)."""
    for old, new in RENAMED.items():
        versions = _versions(conn, old, new)
        if old in versions and new not in versions:
            conn.execute("INSERT INTO schema_version(component, version) VALUES(?, ?)", (new, versions[old]))


def follow_renames(conn: sqlite3.Connection | pg.Connection) -> None:
    """After the steps: an old name's record follows its new one's version, so an older saferbot never runs
    a step again that this one ran under the new name (it would create a table twice). Read first, as above."""
    for old, new in RENAMED.items():
        versions = _versions(conn, old, new)
        if old in versions and new in versions and versions[old] != versions[new]:
            conn.execute("UPDATE schema_version SET version=? WHERE component=?", (versions[new], old))


def _versions(conn: sqlite3.Connection | pg.Connection, *components: str) -> dict[str, int]:
    marks = ",".join("?" * len(components))
    return dict(conn.execute(f"SELECT component, version FROM schema_version WHERE component IN ({marks})",
                             components).fetchall())


def private(db: Path) -> None:
    """The database and its WAL/SHM files are readable by the service's own user only (0600)."""
    for suffix in ("", "-wal", "-shm"):
        f = db.with_name(db.name + suffix)
        if f.exists():
            os.chmod(f, 0o600)


def columns(conn: sqlite3.Connection | pg.Connection, table: str) -> set[str]:
    """The column names of `table` in this store (empty if there is no such table)."""
    if isinstance(conn, pg.Connection):
        return {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns"
                                           " WHERE table_schema=current_schema() AND table_name=?", (table,))}
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def checkpoint(conn: sqlite3.Connection | pg.Connection) -> None:
    """SQLite: copy the WAL into the file and truncate it, so deleted text is not left in `-wal`.

    PostgreSQL keeps no such side file of ours; its autovacuum reclaims deleted rows.
    """
    if not isinstance(conn, pg.Connection):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def open_read_only(target: str | Path) -> sqlite3.Connection | pg.Connection | None:
    """The store as it is, for a reader that must change nothing (doctor, check-config, a standby's page):
    no migration, SQLite opened read-only; None when the SQLite file does not exist yet."""
    if is_url(target):
        return pg.Connection(str(target))
    path = Path(target)
    return sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True) if path.exists() else None


def connect(target: str | Path) -> sqlite3.Connection | pg.Connection:
    """A plain synchronous, migrated connection for a command-line tool (the bot uses Store)."""
    if is_url(target):
        conn: sqlite3.Connection | pg.Connection = pg.Connection(str(target))
    else:
        conn = sqlite3.connect(str(target), isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, as in the store
    migrate(conn)
    return conn


def transaction(conn: sqlite3.Connection | pg.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run fn(conn, *args) in one write transaction on a `connect()` connection."""
    return _in_transaction(conn, fn, *args)


class Store:
    def __init__(self, db: aiosqlite.Connection):
        self._db = db

    @classmethod
    async def open(cls, path: Path | str, fence: int | None = None) -> Store:
        """Open (and migrate) the store `path` names: a file path, or a postgresql:// URL.

        fence: the lease generation this instance holds (PostgreSQL with two instances);
        every write transaction is refused once another instance holds a newer one.
        """
        if is_url(path):
            return await PgStore.open_url(str(path), fence)
        pending = aiosqlite.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            db = await pending
        except BaseException:
            # aiosqlite has told its thread to stop; wait for it while this loop still runs, or the
            # thread's last callback lands on a closed loop and prints a traceback on exit
            await asyncio.to_thread(pending._thread.join, 2)
            await asyncio.sleep(0)
            raise
        try:
            db.row_factory = sqlite3.Row
            await db.execute("PRAGMA busy_timeout=5000")
            await _wal(db)
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
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


async def _wal(db: aiosqlite.Connection) -> None:
    """Switch to WAL. Two processes opening a new file at once: SQLite answers 'database is locked'
    at once here (its busy timeout does not cover a journal-mode change), so try again for 5 s."""
    for attempt in range(100):
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == 99:
                raise
            await asyncio.sleep(0.05)


class PgStore(Store):
    """The same store on PostgreSQL: one connection on one worker thread, reconnected if it drops."""

    def __init__(self, url: str, conn: pg.Connection, worker: ThreadPoolExecutor, fence: int | None):
        self.url = url
        self._conn = conn
        self._worker = worker
        self.fence = fence
        self.on_fenced: Callable[[str], None] | None = None  # told when a write was refused for a lost lease
        # set while the lease has lapsed for want of the database (bot/serve.py, `cut_off`): every call fails
        # at once, so each event is answered on the not-stored path now, not after a connect timeout each
        self.unreachable: str | None = None
        self._waiting: set[asyncio.Future] = set()  # calls in flight, failed at once by `cut_off`

    @classmethod
    async def open_url(cls, url: str, fence: int | None = None) -> PgStore:
        worker = ThreadPoolExecutor(1, thread_name_prefix="saferbot-db")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(worker, pg.Connection, url)
            store = cls(url, conn, worker, fence)
            await store._call(migrate)
        except BaseException:
            worker.shutdown(wait=False)
            raise
        return store

    def _connection(self) -> pg.Connection:
        if self._conn.broken:  # the server restarted or the network dropped: a fresh connection
            self._conn = pg.Connection(self.url)
        self._conn.fence = self.fence
        return self._conn

    def _work(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._connection()
        try:
            return fn(conn, *args)
        except psycopg.OperationalError:
            if not conn.broken:
                raise
            # the server dropped us (a restart, a managed failover): once more on a fresh connection.
            # Units are safe to repeat: intake keys, wake-up status and outbox claims are conditional.
            return fn(self._connection(), *args)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.unreachable:
            raise psycopg.OperationalError(self.unreachable)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()  # answered by the worker, or failed by cut_off (a silent network)
        self._waiting.add(waiter)

        def done(f) -> None:
            if waiter.done() or f.cancelled():
                return
            if f.exception() is not None:
                waiter.set_exception(f.exception())
            else:
                waiter.set_result(f.result())

        self._worker.submit(self._work, fn, *args).add_done_callback(
            lambda f: loop.call_soon_threadsafe(done, f))
        try:
            return await waiter
        except Fenced as e:
            if self.on_fenced:
                self.on_fenced(str(e))
            raise
        finally:
            self._waiting.discard(waiter)

    def cut_off(self, why: str) -> None:
        """The database cannot be reached: fail every call now, those waiting on a silent connection too.

        (A network that drops packets leaves a query waiting for minutes; its thread is left to it.)"""
        self.unreachable = why
        for waiter in list(self._waiting):
            if not waiter.done():
                waiter.set_exception(psycopg.OperationalError(why))

    async def close(self) -> None:
        if self.unreachable:  # the worker may be stuck on a silent connection: do not wait for it
            self._worker.shutdown(wait=False, cancel_futures=True)
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._worker, self._conn.close)
        self._worker.shutdown(wait=False)


def _in_transaction(conn: sqlite3.Connection | pg.Connection, fn: Callable[..., T], *args: Any) -> T:
    if not isinstance(conn, pg.Connection):
        return _once(conn, fn, args)
    try:
        return _once(conn, fn, args)
    except psycopg.Error as e:
        # a write refused by the server, met where its savepoint's part cannot be told (parts do not wait for
        # their writes: `part_done`): once more, each part waiting, so the failure is its part's alone
        if conn.broken or conn.careful or not conn.parts:
            if isinstance(e, pg.Unattributed) and isinstance(e.__cause__, psycopg.Error):
                raise e.__cause__ from None  # no part to tell apart: the refusal itself
            raise
    conn.careful = True
    try:
        return _once(conn, fn, args)
    finally:
        conn.careful = False


def reserve_key(conn: sqlite3.Connection | pg.Connection, table: str) -> Callable[[], int | None]:
    """The key of the row about to be inserted into `table`, asked now and read when the returned function is
    called: PostgreSQL takes it from the table's identity beside the unit's next read, so the INSERT's key is no
    wait of its own (an alert's number is needed at once: its card, timeline and wake-up carry it). SQLite says
    None: an INSERT of NULL as the key takes the next rowid, and lastrowid costs nothing."""
    if isinstance(conn, pg.Connection):
        return conn.reserve_key(table)
    return lambda: None


def answered(cursor: Any) -> bool:
    """Whether reading `cursor` costs no wait: SQLite has run the statement already; PostgreSQL once the unit has
    waited for the server past it (a later read's answer brought it)."""
    return not isinstance(cursor, pg.Cursor) or cursor.answered


class Later:
    """A unit's answer read once its COMMIT is through (`after_commit`)."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[], Any]):
        self.read = read


def after_commit(conn: sqlite3.Connection | pg.Connection, read: Callable[[], T]) -> T:
    """A unit's last answer (an UPDATE ... RETURNING): on PostgreSQL read after the COMMIT, so the statement and
    the COMMIT share one wait for the server instead of one each (the started mark before every message leaves);
    SQLite reads it now. The unit returns what this returns, and `Store.run` gives its caller the answer."""
    if isinstance(conn, pg.Connection):
        return Later(read)  # type: ignore[return-value]
    return read()


def _once(conn: sqlite3.Connection | pg.Connection, fn: Callable[..., T], args: tuple) -> T:
    if isinstance(conn, pg.Connection):
        conn.begin()
        finish, undo = conn.commit, conn.rollback
    else:
        conn.execute("BEGIN IMMEDIATE")
        finish, undo = (lambda: conn.execute("COMMIT")), (lambda: conn.in_transaction and conn.execute("ROLLBACK"))
    try:
        result = fn(conn, *args)
        finish()  # a failed COMMIT (disk full) can leave the transaction open: undone below
    except BaseException:
        undo()
        raise
    return result.read() if isinstance(result, Later) else result


def part_done(conn: sqlite3.Connection | pg.Connection) -> None:
    """A savepoint's part has run (Tx.savepoint, the engine's intake). PostgreSQL pipelines a unit's writes
    (bot/store/pg.py): on the unit's first try a part does not wait for its writes, so a refused write is met
    later, by a read or a rollback in another part or by the COMMIT, and fails the whole unit
    (`pg.Connection.tainted`); `_in_transaction` then runs it again carefully: a new part first waits for the
    writes before it, and here each part waits for its own, so the failure is its part's alone. SQLite has run
    each write already."""
    if isinstance(conn, pg.Connection) and conn.careful:
        conn.settle()


__all__ = ["Fenced", "PgStore", "Store", "StoreError", "after_commit", "answered", "checkpoint", "columns", "connect", "is_url", "migrate", "open_read_only",
           "part_done", "private", "reserve_key", "statements", "transaction"]
