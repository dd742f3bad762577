"""One active process per database: a lock file beside a SQLite file, a lease row in PostgreSQL.

`<db>.lock` is held with flock(2) for as long as the process runs. The kernel frees it
the moment the process dies, kill -9 and crashes included, so a stale lock can never
block a restart. The file says who holds it (pid, host, since) so a second process can
name the running one. A second `saferbot run` waits as a standby that opens nothing and
sends nothing, and takes over within a second or two of the first dying
(SAFERBOT_STANDBY=false: it refuses at once instead). flock does not work across
machines on a network file system: keep the database on a local disk.

On PostgreSQL the same roles are played by the lease (bot.lease), which works across
machines: `guard_for(settings)` gives whichever applies, with one interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

TAKEOVER_POLL = 1.0  # seconds between a standby's tries


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


class InstanceLock:
    def __init__(self, db: Path):
        self.path = lock_path(db)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; write who we are into the file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {since}\n".encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> str:
        """'pid 123 on host lib-vm1 since 2026-11-25T09:00:00+00:00', as the holder wrote it."""
        try:
            pid, host, since = self.path.read_text().split()
        except (OSError, ValueError):
            return "another process"
        return f"pid {pid} on host {host} since {since}"

    async def wait(self, poll: float = TAKEOVER_POLL) -> None:
        """A standby: wait until the lock is ours."""
        while not self.try_acquire():
            await asyncio.sleep(poll)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)  # nobody is named as running any more
        os.close(self._fd)  # closing frees the flock
        self._fd = None


class FileGuard:
    """SQLite: being the active process is holding the lock file (never lost while we run)."""

    generation: int | None = None

    def __init__(self, db: str):
        self.where = db
        self.lock = InstanceLock(Path(db))
        self.lost = asyncio.Event()
        self.why = ""

    unreachable = False  # a lock file is never out of reach

    def valid(self) -> bool:
        """Holding the lock file cannot lapse while the process lives: always valid."""
        return True

    async def take(self) -> bool:
        return self.lock.try_acquire()

    async def current(self) -> str:
        return self.lock.holder()

    async def wait(self) -> None:
        await self.lock.wait()

    def give_up(self, why: str) -> None:
        self.why = why
        self.lost.set()

    async def release(self) -> None:
        self.lock.release()


class LeaseGuard:
    """PostgreSQL: being the active instance is holding the lease row (bot.lease)."""

    def __init__(self, url: str, ttl: float):
        from .lease import Lease

        self.where = "PostgreSQL"
        self.lease = Lease(url, ttl)
        self.lost = self.lease.lost

    @property
    def generation(self) -> int | None:
        return self.lease.generation

    @property
    def why(self) -> str:
        return self.lease.why

    def valid(self) -> bool:
        return self.lease.valid()

    @property
    def unreachable(self) -> bool:
        """The lease was lost because PostgreSQL could not be reached (not taken by another instance)."""
        return self.lease.unreachable

    async def reachable(self) -> bool:
        return await self.lease.reachable()

    async def take(self) -> bool:
        return await self.lease.try_acquire()

    async def current(self) -> str:
        return await self.lease.current()

    async def wait(self) -> None:
        await self.lease.wait()

    def give_up(self, why: str) -> None:
        self.lease.give_up(why)

    async def release(self) -> None:
        await self.lease.release()


async def guard_for(settings) -> FileGuard | LeaseGuard:
    """The right guard for SAFERBOT_DB; on PostgreSQL the schema (and its lease table) is made first."""
    if not settings.on_postgres:
        return FileGuard(settings.db)
    from .store import connect

    await asyncio.to_thread(lambda: connect(settings.db).close())  # migrations, under their own lock
    return LeaseGuard(settings.db, settings.lease_ttl)
