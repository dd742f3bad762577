"""Wake-ups: APScheduler holds them in memory, the store holds the truth.

At start every pending wake-up row is loaded again; one already overdue fires at
once instead of being dropped as a misfire. Firing claims the row first, so a
wake-up that runs twice (a restart, a test advancing the clock) acts once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .clock import Clock
from .store import Store


def _pending(conn: sqlite3.Connection, until: float | None) -> list[tuple[int, float]]:
    if until is None:
        sql, args = "SELECT id, due_at FROM wakeups WHERE status='pending' ORDER BY due_at", ()
    else:
        sql, args = "SELECT id, due_at FROM wakeups WHERE status='pending' AND due_at<=? ORDER BY due_at", (until,)
    return [(r[0], r[1]) for r in conn.execute(sql, args).fetchall()]


class Scheduler:
    def __init__(self, store: Store, clock: Clock, fire: Callable[[int], Awaitable[None]]):
        self.store = store
        self.clock = clock
        self.fire = fire
        self.aps = AsyncIOScheduler(timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True})
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Start and rebuild every pending wake-up; returns how many were overdue."""
        self.aps.start()
        overdue = 0
        for wid, due in await self.store.read(_pending, None):
            overdue += self.add(wid, due)
        return overdue

    def add(self, wid: int, due_at: float) -> bool:
        """Hold a wake-up; True when it is already due and fires now."""
        delay = due_at - self.clock.now()
        if delay <= 0:
            task = asyncio.create_task(self.fire(wid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return True
        run_at = datetime.now(UTC) + timedelta(seconds=delay)
        self.aps.add_job(self.fire, "date", run_date=run_at, args=[wid], id=str(wid), replace_existing=True)
        return False

    async def run_due(self) -> None:
        """Fire everything due by the engine's clock (used when a fake clock moves)."""
        for wid, _ in await self.store.read(_pending, self.clock.now()):
            await self.fire(wid)

    async def stop(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
