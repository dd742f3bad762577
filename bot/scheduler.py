"""Wake-ups: the store holds the truth, memory holds what is due next.

Pending wake-up rows are kept in a heap; APScheduler holds one job, armed for the
earliest of them, and re-armed only when an earlier one arrives. So an alert costs a
heap push instead of an APScheduler job (about 250 us each), and a restart with
thousands of live timers rebuilds in milliseconds. At start every pending row is
loaded again; one already overdue fires at once instead of being dropped as a
misfire. Every 30 s a safety net also fires whatever the store says is overdue, so a
wake-up can never be forgotten in memory. Firing claims the row first, so a wake-up
seen twice acts once.
"""

from __future__ import annotations

import asyncio
import heapq
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .clock import Clock
from .store import Store

TICK = "saferbot-next-wakeup"
SAFETY_NET = "saferbot-overdue-check"
SAFETY_NET_EVERY = 30  # seconds: anything overdue in the store fires even if memory lost track of it


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
        self._heap: list[tuple[float, int]] = []
        self._armed_for: float | None = None  # due time (engine clock) the APScheduler job is set for
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Start and rebuild every pending wake-up; returns how many were overdue."""
        self.aps.start()
        self.aps.add_job(self.run_due, "interval", seconds=SAFETY_NET_EVERY, id=SAFETY_NET, replace_existing=True)
        overdue = [wid for wid, due in await self.store.read(_pending, None) if self.add(wid, due, at_once=False)]
        if overdue:
            self._spawn(self._fire_all(overdue))
        return len(overdue)

    def add(self, wid: int, due_at: float, at_once: bool = True) -> bool:
        """Hold a wake-up; True when it is already due (and, with at_once, fires now)."""
        if due_at <= self.clock.now():
            if at_once:
                self._spawn(self.fire(wid))
            return True
        heapq.heappush(self._heap, (due_at, wid))
        if self._armed_for is None or due_at < self._armed_for:
            self._arm(due_at)
        return False

    def _arm(self, due_at: float) -> None:
        delay = max(0.0, due_at - self.clock.now())
        self._armed_for = due_at
        self.aps.add_job(self._tick, "date", run_date=datetime.now(UTC) + timedelta(seconds=delay), id=TICK,
                         replace_existing=True)

    async def _tick(self) -> None:
        self._armed_for = None
        now = self.clock.now()
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[1])
        if self._heap:
            self._arm(self._heap[0][0])
        # fire in a task and return: a tick that is still running makes APScheduler skip the next one
        self._spawn(self._fire_all(due))

    async def _fire_all(self, wids: list[int]) -> None:
        for wid in wids:
            await self.fire(wid)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_due(self) -> None:
        """Fire everything due by the engine's clock: the safety net, and tests moving a fake clock."""
        for wid, _ in await self.store.read(_pending, self.clock.now()):
            await self.fire(wid)

    async def stop(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
