"""PostgreSQL behind the same small connection surface the store uses of sqlite3.

Why psycopg 3 (sync) on one worker thread rather than asyncpg: every unit of work here is
a plain synchronous function run inside one transaction (see bot.store). psycopg gives a
synchronous connection that slots in where aiosqlite's thread runs sqlite3, so handlers
stay untouched; asyncpg would need every handler rewritten as a coroutine and an await
per statement. Measured on this machine (local PostgreSQL 15, with a benchmark running
beside it): a statement round trip ~0.2 ms, a write transaction (BEGIN, write lock and
fence, one INSERT, COMMIT) ~1.1 ms; bench/failover.py gives the alert latency it yields.

Values behave as in SQLite: numbers are sent untyped so PostgreSQL reads them as the
column's type (a session id compared with a TEXT column, as SQLite's affinity allows),
and NUMERIC results (SUM of integers) come back as int or float, not Decimal.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper, Loader

from . import dialect

# Advisory locks are per database, so their second key is the schema: two deployments in two schemas
# of one database never wait for (or fence) each other.
WRITE_LOCK = 0x5AFE  # one writer at a time, as SQLite's BEGIN IMMEDIATE
MIGRATE_LOCK = 0x5AFF  # two instances starting at once migrate one after the other
TAKE_WRITE_LOCK = f"pg_advisory_xact_lock({WRITE_LOCK}, hashtext(current_schema()))"
# the fence, checked by the server inside the transaction before COMMIT: an error (so the COMMIT rolls back)
# unless the lease generation is still this instance's
FENCED = "saferbot-fenced"
# (the cast is of the CASE's result, which depends on the row: a cast of the constant alone would be folded,
# and fail, when the statement is planned, whatever the generation)
FENCE_CHECK = (f"SELECT CAST(CASE WHEN (SELECT generation FROM lease WHERE name='active') = %s THEN '0'"
               f" ELSE '{FENCED} ' || COALESCE((SELECT generation FROM lease WHERE name='active')::text, 'none')"
               f" END AS INTEGER)")  # the refusal carries the generation now holding the lease (`_fenced`)
_FENCED_BY = re.compile(rf"{FENCED} (\w+)")


class Fenced(Exception):
    """This instance no longer holds the lease: the store refuses its writes."""


class Unattributed(psycopg.Error):
    """A unit's first try met a refused write (`Connection.tainted`) where it cannot tell which savepoint's part
    it belongs to: the unit stops and runs again carefully (bot.store._in_transaction)."""


class Row(tuple):
    """sqlite3.Row's surface: index by position or by column name, keys(), dict(row)."""

    _names: tuple[str, ...] = ()

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._names.index(key))
            except ValueError:
                raise IndexError(f"No item with that key: {key}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _rows(cursor: psycopg.Cursor) -> Any:
    # the names straight from the result: cursor.description builds a Column object per column, which
    # was a sixth of the database thread's time under the lone-working bench
    res = cursor.pgresult
    names = tuple((res.fname(i) or b"").decode() for i in range(res.nfields)) if res is not None else ()
    return lambda values: Row(values, names)


class _Untyped(Dumper):
    """A number as an untyped literal: PostgreSQL gives it the type its context needs."""

    oid = 0

    def dump(self, obj: Any) -> bytes:
        return str(int(obj)).encode()


class _Number(Loader):
    def load(self, data: Any) -> int | float:
        d = Decimal(bytes(data).decode())
        return int(d) if d == d.to_integral_value() else float(d)


def _adapt(conn: psycopg.Connection) -> None:
    conn.adapters.register_dumper(int, _Untyped)
    conn.adapters.register_dumper(bool, _Untyped)
    conn.adapters.register_loader("numeric", _Number)


class Cursor:
    """sqlite3.Cursor's surface. Inside a write transaction the statement is pipelined: it is sent at
    once, and its results are waited for only when something reads them (`Connection.settle`)."""

    def __init__(self, conn: Connection, cur: psycopg.Cursor, returns_key: bool):
        self._conn = conn
        self._cur = cur
        self._returns_key = returns_key
        self._sent = conn.sent  # statements sent in pipelines by then: answered once `settled` reaches it
        self._key: int | None = None
        self._read = False

    def _results(self) -> psycopg.Cursor:
        if not self._read:
            if self._sent > self._conn.settled:
                self._conn.settle()
            self._read = True
            if self._returns_key:  # INSERT ... RETURNING key, added by the dialect: read it as lastrowid
                rows = self._cur.fetchall()
                self._key = rows[-1][0] if rows else None
        return self._cur

    @property
    def answered(self) -> bool:
        """Its results are here: reading them costs no wait for the server."""
        return self._read or self._sent <= self._conn.settled

    @property
    def rowcount(self) -> int:
        return self._results().rowcount

    @property
    def lastrowid(self) -> int | None:
        self._results()
        return self._key

    @property
    def description(self):
        return self._results().description

    def fetchone(self) -> Row | None:
        cur = self._results()
        return cur.fetchone() if cur.description and not self._returns_key else None

    def fetchall(self) -> list[Row]:
        cur = self._results()
        return cur.fetchall() if cur.description and not self._returns_key else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


SILENT_PEER = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
               "tcp_user_timeout": 10000}  # libpq: dead-peer detection (idle waits and unacknowledged writes)


class Connection:
    """What bot.store and the handlers use of sqlite3.Connection, on a psycopg connection."""

    def __init__(self, url: str):
        self.url = url
        # a server or network that goes silent (no reset) ends a waiting query within seconds, not the
        # kernel's ~15 min: the store then fails, and the not-stored path answers (bot/emergency.py)
        self._conn = psycopg.connect(url, autocommit=True, row_factory=_rows, connect_timeout=5, **SILENT_PEER)
        _adapt(self._conn)
        # Commits wait for the WAL flush (the server's synchronous_commit, on by default): an alert that was
        # confirmed to its platform survives a crash of the database server too. That wait depends on the
        # disk (4-6 ms an alert on one test machine, 0.1 ms on a later one); a service may trade it away in its URL
        # (options=-csynchronous_commit=off), see docs/postgresql.md.
        self.row_factory: Any = None  # accepted and ignored: rows always answer by name and position
        self._keys: tuple[tuple[str, str], ...] | None = None
        self._sequences: dict[str, str] = {}  # table -> its identity's sequence, read with `_keys`
        self.fence: int | None = None  # the lease generation this process holds (None: not fenced)
        self._pipe: psycopg.Pipeline | None = None  # inside a write transaction (begin .. commit/rollback)
        self._pipe_block: contextlib.AbstractContextManager[psycopg.Pipeline] | None = None
        self._lease: Cursor | None = None  # the write lock and lease generation, read before COMMIT
        self.sent = 0  # statements sent in pipelines (counted across transactions)
        self.settled = 0  # of those, how many have been waited for
        self.careful = False  # a unit's second try: each savepoint's part waits for its writes (bot.store)
        self.parts = 0  # savepoints this transaction opened without waiting for the writes before them
        # first try: the refusal met, whose part is unknown (a later part's read, or a rollback's wait, can meet an
        # earlier part's refused write); nothing more runs in the unit once it is set (`_guard`)
        self.tainted: psycopg.Error | None = None
        self.waits = 0  # round trips: a statement outside a pipeline, a sync (bench/lone_timers.py counts them)

    @property
    def broken(self) -> bool:
        return self._conn.closed or self._conn.broken

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def keys(self) -> tuple[tuple[str, str], ...]:
        """Each table's key column: its identity column (the integer primary key, else the hidden rowid). Read
        with each identity's sequence, once per connection (`reserve_key`)."""
        if self._keys is None:
            rows = self._conn.execute(
                "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_schema) || '.'"
                " || quote_ident(table_name), column_name) FROM information_schema.columns"
                " WHERE table_schema=current_schema() AND is_identity='YES'").fetchall()
            self._sequences = {t: seq for t, _, seq in rows}
            self._keys = tuple(sorted((t, c) for t, c, _ in rows))
        return self._keys

    def reserve_key(self, table: str) -> Callable[[], int]:
        """The next value of `table`'s identity, asked now (pipelined); the function reads it (bot.store.reserve_key).
        Like an INSERT that is rolled back, a reserved key that is never used leaves a gap in the numbers. The
        sequence is named as `keys` found it: looking it up per alert is a catalog search each time."""
        self.keys()
        cur = self.raw("SELECT nextval(%s::regclass)", (self._sequences[table],))
        return lambda: int(cur.fetchone()[0])  # type: ignore[index]

    def forget_keys(self) -> None:
        self._keys = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        text, returns_key = dialect.query(sql, self.keys())
        if self._pipe is not None:
            self._before(sql)
        cur = self._conn.cursor()
        self._met(lambda: cur.execute(text, tuple(params)))  # type: ignore[arg-type]
        return self._cursor(cur, returns_key)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> Cursor:
        text = dialect.placeholders(sql)
        self._guard()
        cur = self._conn.cursor()
        self._met(lambda: cur.executemany(text, [tuple(p) for p in seq]))  # type: ignore[arg-type]
        return self._cursor(cur, False)

    def raw(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        """A statement in PostgreSQL's own words (%s placeholders), not rewritten."""
        self._guard()
        cur = self._conn.cursor()
        self._met(lambda: cur.execute(sql, None if params is None else tuple(params)))  # type: ignore[arg-type]
        return self._cursor(cur, False)

    def _before(self, sql: str) -> None:
        """Inside a write transaction: the savepoint rules of `part_done` (bot.store)."""
        self._guard()
        head = sql.lstrip()[:9].upper()
        if head.startswith("ROLLBACK"):  # ROLLBACK TO <savepoint> after a failure: the server runs nothing until a sync
            self._drain()
        elif head.startswith("SAVEPOINT"):
            if self.careful:  # a refusal from before the part is met here, outside it, not inside
                self.settle()
            else:
                self.parts += 1

    def _guard(self) -> None:
        """First try: once a refusal has been met nothing more runs, not even a part's ROLLBACK TO: that could
        undo another part than the refused write's, on the server, while the bot believed the opposite."""
        if self.tainted is not None and self._pipe is not None and not self.careful:
            raise Unattributed(f"a write was refused in a part not yet known ({self.tainted}): the unit runs "
                               "again, each part waiting for its writes") from self.tainted

    def _met(self, call: Callable[[], Any]) -> Any:
        """Run a statement or a sync; a refusal it meets on a first try inside a write transaction taints the unit."""
        try:
            return call()
        except psycopg.Error as e:
            if self._pipe is not None and not self.careful and self.tainted is None:
                self.tainted = e
            raise

    def _cursor(self, cur: psycopg.Cursor, returns_key: bool) -> Cursor:
        if self._pipe is not None:
            self.sent += 1
        else:
            self.waits += 1
        return Cursor(self, cur, returns_key)

    # --- write transactions, pipelined ------------------------------------------------------------
    # Inside a write transaction every statement is sent at once (libpq's pipeline mode) and its
    # results are waited for only when the unit reads them (a SELECT, a key, a row count) or at a
    # savepoint's end or the commit. A unit's writes then cost one round trip together, not one each:
    # the lone-working sweep's ~25 statements an escalation were ~25 waits for the server.
    # A failed statement is raised at the next wait (`settle`), at the latest before COMMIT, so a
    # failure still undoes the unit (or its savepoint) as before; only the line it is raised on moves.

    def begin(self) -> None:
        """BEGIN as SQLite's BEGIN IMMEDIATE: one writer at a time, and only the lease holder.

        A write transaction takes the one write lock and reads the lease generation; before it
        commits (`commit`), the generation must still be the one this process was given. An
        instance that has lost its lease is refused inside the transaction, so a stale holder can
        never claim or change a row (fencing). The lock is taken at once; its answer is read with
        the unit's first read, not waited for on its own.
        """
        self._pipe_block = self._conn.pipeline()
        self._pipe = self._pipe_block.__enter__()
        self.parts = 0
        self.tainted = None
        try:
            self.raw("BEGIN")
            self._lease = self.raw(f"SELECT {TAKE_WRITE_LOCK}, (SELECT generation FROM lease WHERE name='active')")
        except BaseException:
            self.rollback()
            raise

    def _check_fence(self) -> None:
        """Refuse to commit once the lease has passed on. When the unit has read something already, the lease
        generation came with it and is checked here; otherwise the server checks it, in the transaction, just
        before COMMIT (FENCE_CHECK fails the transaction), so the check costs no wait of its own."""
        if self.fence is None or self._lease is None:
            return
        if self._lease._sent > self.settled:  # not answered yet: let the server check, with the COMMIT
            self.raw(FENCE_CHECK, (self.fence,))
            return
        row = self._lease.fetchone()
        if row is None or row[1] != self.fence:
            raise self._fenced(row[1] if row else None)

    def _fenced(self, now_held_by: object) -> Fenced:
        return Fenced(f"this instance's lease (generation {self.fence}) has passed to another instance"
                      f" (generation {now_held_by}): it sends nothing more")

    def settle(self) -> None:
        """Wait for every statement sent so far; raises the first that failed."""
        if self._pipe is None or self.settled >= self.sent:
            return
        self.settled = self.sent
        self.waits += 1
        self._met(self._pipe.sync)

    def _drain(self) -> None:
        """Settle before a ROLLBACK TO: the server takes statements again after this. Carefully, the failure
        being undone is the part's own, raised already; on a first try a refusal met here may be another
        part's, so it stops the unit (`_guard`)."""
        if not self.careful:
            self.settle()
            return
        with contextlib.suppress(psycopg.Error):
            self.settle()

    def _leave_pipeline(self) -> None:
        block, self._pipe, self._pipe_block = self._pipe_block, None, None
        if block is not None:
            self.waits += 1
            self.settled = self.sent
            block.__exit__(None, None, None)  # sends a sync and reads every result left; raises a failure

    def commit(self) -> None:
        """COMMIT, sent with the unit's last writes; raises if any of them failed, or Fenced if the lease
        passed on (then roll back)."""
        try:  # a pipelined failure is raised by whichever call meets its answer: the check's, the COMMIT's, the sync
            self._check_fence()
            self.raw("COMMIT")
            self._leave_pipeline()
        except psycopg.Error as e:  # the check's refusal itself, or Unattributed naming it (`_guard`)
            held = _FENCED_BY.search(str(e))
            if held is None:
                raise
            raise self._fenced(held.group(1)) from None

    def rollback(self) -> None:
        with contextlib.suppress(psycopg.Error):  # the failure being undone, raised already
            self._leave_pipeline()
        if self.in_transaction:
            self.raw("ROLLBACK")

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):  # a unit cut short (shutdown): leave its pipeline first, quietly
            self._leave_pipeline()
        self._conn.close()
