"""PostgreSQL, two or more instances: one lease row says which one is active.

The active instance polls the platforms, fires wake-ups and delivers; the others are hot
standbys that open nothing else. The lease is a row (table `lease`) with a generation
and an expiry in the database's own clock, so the machines' clocks never matter:

- the holder renews it every ttl/5 seconds;
- a standby looks every STANDBY_POLL seconds and takes it once it has expired, adding 1
  to the generation (kill -9, a crash, a cut network: takeover within ttl + a start-up);
- every write transaction checks the generation it was given (bot.store.pg, fencing), so
  a holder that lost the lease can no longer claim or change a row, even in a partition;
  and a takeover first ends any write the old holder began before its lease ran out, so
  not even a transaction that stalled across the expiry can commit afterwards;
- nothing leaves the process unless the lease is known valid by the local monotonic
  clock at that instant (`valid()`: renewed, or taken, within 2/3 of the ttl), checked by
  the outbox at hand-off, the last point before a request; a process that wakes from a
  freeze (SIGSTOP, a VM paused) finds its lease stale and sends nothing until it has
  renewed, or learns the lease is gone and exits;
- a holder that cannot renew for 2/3 of the ttl stops sending on its own, before any
  standby may take over. If the lease was taken, it exits so its service manager restarts
  it as a standby; if the database cannot be reached (`unreachable`), it keeps its
  platform connection and answers codewords without the store until the database
  answers again, then exits (bot/serve.py, docs/postgresql.md);
- a clean stop hands the lease back at once (expiry 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from datetime import UTC, datetime

import psycopg

from .store.pg import TAKE_WRITE_LOCK, WRITE_LOCK

log = logging.getLogger(__name__)

STANDBY_POLL = 0.5  # seconds between a standby's looks at the lease
NOW = "extract(epoch from clock_timestamp())::float8"  # the database's clock, the same for every instance
ACQUIRE = f"""
INSERT INTO lease(name, holder, generation, since, renewed_at, expires_at)
SELECT 'active', %(holder)s, 1, t, t, t + %(ttl)s FROM (SELECT {NOW} AS t) now
ON CONFLICT (name) DO UPDATE SET holder=excluded.holder, generation=lease.generation + 1,
    since=excluded.since, renewed_at=excluded.renewed_at, expires_at=excluded.expires_at
WHERE lease.expires_at < excluded.since
RETURNING generation
"""
END_OLD_WRITER = """
SELECT pg_terminate_backend(pid) FROM pg_locks
WHERE locktype='advisory' AND granted AND classid=%(lock)s::oid
  AND objid=hashtext(current_schema())::oid AND objsubid=2 AND pid<>pg_backend_pid()
  AND database=(SELECT oid FROM pg_database WHERE datname=current_database())
  AND EXISTS (SELECT 1 FROM lease WHERE name='active' AND expires_at < {now})
""".replace("{now}", NOW)
RENEW = f"""
UPDATE lease SET renewed_at=now.t, expires_at=now.t + %(ttl)s FROM (SELECT {NOW} AS t) now
WHERE name='active' AND generation=%(generation)s AND holder=%(holder)s RETURNING generation
"""


def describe(row: tuple | None, now: float) -> str:
    """'host lib-vm1 pid 812 (generation 4) since 2026-11-25T09:00:00+00:00, renewed 1.2 s ago'."""
    if row is None:
        return "no instance has been active yet"
    holder, generation, since, renewed_at, expires_at = row
    started = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds")
    if expires_at > now:
        state = f"renewed {now - renewed_at:.1f} s ago"
    elif expires_at <= 0:
        state = "stopped cleanly: the lease is free"
    else:
        state = f"EXPIRED {now - expires_at:.1f} s ago: a standby takes over"
    return f"{holder} (generation {generation}) active since {started}, {state}"


async def read(url: str) -> str:
    """Who holds the lease, for `saferbot status` and a standby's log."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5) as conn:
        cur = await conn.execute(f"SELECT holder, generation, since, renewed_at, expires_at, {NOW}"
                                 " FROM lease WHERE name='active'")
        row = await cur.fetchone()
        if row is None:
            return describe(None, 0)
        return describe(row[:5], row[5])


class Lease:
    def __init__(self, url: str, ttl: float):
        self.url = url
        self.ttl = ttl
        self.holder = f"host {socket.gethostname()} pid {os.getpid()} id {secrets.token_hex(3)}"
        self.generation: int | None = None
        self.lost = asyncio.Event()  # set when this instance may no longer act
        self.renewed = 0.0  # monotonic time the last successful take or renewal was sent
        self.why = ""
        self.unreachable = False  # lost because the database could not be reached, not taken by another
        self._conn: psycopg.AsyncConnection | None = None
        self._renewer: asyncio.Task | None = None
        self._stuck: set[asyncio.Task] = set()  # renewals given up on a silent network, left to end

    async def _connection(self) -> psycopg.AsyncConnection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=3)
        return self._conn

    async def try_acquire(self) -> bool:
        conn = await self._connection()
        cur = await conn.execute(f"SELECT expires_at < {NOW} FROM lease WHERE name='active'")
        free = await cur.fetchone()
        if free is not None and not free[0]:
            return False  # held and fresh: the usual answer to a standby's look, without any lock
        began = time.monotonic()
        async with conn.transaction():
            # No fencing gap: a write the old holder began before its lease ran out (and then stalled)
            # still holds the write lock. End that session, so its transaction rolls back, and take the
            # write lock ourselves before the lease changes hands: no old write can commit after this.
            await conn.execute(END_OLD_WRITER, {"lock": WRITE_LOCK})
            await conn.execute(f"SELECT {TAKE_WRITE_LOCK}")
            cur = await conn.execute(ACQUIRE, {"holder": self.holder, "ttl": self.ttl})
            row = await cur.fetchone()
        if row is None:
            return False
        self.generation = int(row[0])
        self.renewed = began
        self._renewer = asyncio.create_task(self._renew_loop())
        return True

    async def current(self) -> str:
        return await read(self.url)

    async def wait(self, poll: float = STANDBY_POLL) -> None:
        """A standby: wait until the lease is ours (database faults are logged and retried)."""
        while True:
            try:
                if await self.try_acquire():
                    return
            except psycopg.Error as e:
                log.warning("standby: cannot read the lease (%s); trying again", type(e).__name__)
                with contextlib.suppress(Exception):
                    if self._conn:
                        await self._conn.close()
                self._conn = None
            await asyncio.sleep(poll)

    def valid(self) -> bool:
        """Known valid now by this process's own clock: renewed within 2/3 of the ttl (a standby may take
        it only after the whole ttl, in the database's clock), and not lost."""
        return (self.generation is not None and not self.lost.is_set()
                and time.monotonic() - self.renewed < self.ttl * 2 / 3)

    def give_up(self, why: str) -> None:
        if not self.lost.is_set():
            self.why = why
            log.error("%s: this instance stops sending now", why)
            self.lost.set()

    async def _renew_loop(self) -> None:
        every = self.ttl / 5
        last_ok = self.renewed
        while not self.lost.is_set():
            await asyncio.sleep(every)
            began = time.monotonic()
            try:
                row = await self._renew_once(every)
                if row is None:
                    self.give_up(f"the lease (generation {self.generation}) was taken by another instance")
                    return
                last_ok = self.renewed = began
            except (psycopg.Error, OSError, TimeoutError) as e:
                log.warning("could not renew the lease (%s)", type(e).__name__)
                self._conn = None
                if time.monotonic() - last_ok > self.ttl * 2 / 3:  # before a standby may take over
                    self.unreachable = True
                    self.give_up(f"could not renew the lease for {time.monotonic() - last_ok:.1f} s")
                    return

    async def reachable(self) -> bool:
        """Whether the database answers now (a partitioned instance waits for this, then restarts)."""
        try:
            async with await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=2) as conn:
                await asyncio.wait_for(conn.execute("SELECT 1"), 2)
            return True
        except (psycopg.Error, OSError, TimeoutError):
            return False

    async def _renew_once(self, timeout: float) -> tuple | None:
        """One renewal, given up after `timeout` without waiting for it to end.

        (Cancelling a psycopg query on a silent network waits ~10 s for the cancel and the close;
        the renewal would learn of the lost lease that much late. The stuck attempt is left to finish.)"""

        async def renew() -> tuple | None:
            conn = await self._connection()
            cur = await conn.execute(RENEW, {"ttl": self.ttl, "generation": self.generation, "holder": self.holder})
            return await cur.fetchone()

        task = asyncio.ensure_future(renew())
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            self._stuck.add(task)
            task.add_done_callback(lambda t: (self._stuck.discard(t), t.cancelled() or t.exception()))
            self._conn = None  # the next try opens a fresh connection
            raise TimeoutError
        return task.result()

    async def release(self) -> None:
        """A clean stop: hand the lease over at once."""
        if self._renewer:
            self._renewer.cancel()
            with contextlib.suppress(BaseException):
                await self._renewer
        if self.generation is not None and not self.lost.is_set():
            with contextlib.suppress(Exception):
                conn = await self._connection()
                await asyncio.wait_for(conn.execute(
                    "UPDATE lease SET expires_at=0 WHERE name='active' AND generation=%s AND holder=%s",
                    (self.generation, self.holder)), 2)
        if self._conn:
            with contextlib.suppress(Exception):
                await self._conn.close()
