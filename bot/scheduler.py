"""Wake-ups: the store holds the truth, memory holds what is due next.

Pending wake-up rows are kept in a heap; one asyncio timer is armed for the earliest of
them and re-armed whenever an earlier one arrives or the timer fires. So an alert costs a
heap push, and a restart with thousands of live timers rebuilds in milliseconds. At
start every pending row is loaded again; one already overdue fires at once instead of
being dropped as a misfire.

Why not an APScheduler date job for the timer: APScheduler 3 skips a run while the
previous run of the same job is still counted as running ("maximum number of running
instances reached") and then forgets the job, so after a burst every later wake-up
waited for the safety net. APScheduler runs the periodic jobs (the safety net, and the
engine's heartbeat), where a skipped run costs nothing. The safety net fires whatever
the store says is overdue every SAFETY_NET_EVERY seconds and re-arms the timer, so a
wake-up can never be forgotten in memory. Firing claims the row first, so a wake-up
seen twice acts once.
"""

from __future__ import annotations

import asyncio
import heapq
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .clock import Clock
from .store import Store

SAFETY_NET = "saferbot-overdue-check"
SAFETY_NET_EVERY = 5.0  # seconds: anything overdue in the store fires even if memory lost track of it


def _pending(conn: sqlite3.Connection, until: float | None) -> list[tuple[int, float]]:
    if until is None:
        sql, args = "SELECT id, due_at FROM wakeups WHERE status='pending' ORDER BY due_at", ()
    else:
        sql, args = "SELECT id, due_at FROM wakeups WHERE status='pending' AND due_at<=? ORDER BY due_at", (until,)
    return [(r[0], r[1]) for r in conn.execute(sql, args).fetchall()]


class Scheduler:
    def __init__(self, store: Store, clock: Clock, fire: Callable[[int], Awaitable[None]], *,
                 safety_net_every: float = SAFETY_NET_EVERY):
        self.safety_net_every = safety_net_every
        self.store = store
        self.clock = clock
        self.fire = fire
        self.aps = AsyncIOScheduler(timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True})
        self._heap: list[tuple[float, int]] = []
        self._armed_for: float | None = None  # due time (engine clock) the timer is set for
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        """Start and rebuild every pending wake-up; returns how many were overdue."""
        self.aps.start()
        self.aps.add_job(self._safety_net, "interval", seconds=self.safety_net_every, id=SAFETY_NET,
                         replace_existing=True)
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
        if self._timer:
            self._timer.cancel()
        self._armed_for = due_at
        delay = max(0.0, due_at - self.clock.now())
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        self._armed_for, self._timer = None, None
        now = self.clock.now()
        due = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[1])
        if self._heap:
            self._arm(self._heap[0][0])
        if due:
            self._spawn(self._fire_all(due))

    async def _fire_all(self, wids: list[int]) -> None:
        for wid in wids:
            await self.fire(wid)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _safety_net(self) -> None:
        await self.run_due()
        if self._heap and self._timer is None:  # memory lost its timer: arm it again
            self._arm(self._heap[0][0])

    def lag(self) -> float:
        """Seconds the earliest wake-up in memory is overdue (0 when on time): for /healthz."""
        return max(0.0, self.clock.now() - self._heap[0][0]) if self._heap else 0.0

    async def run_due(self) -> None:
        """Fire everything due by the engine's clock: the safety net, and tests moving a fake clock."""
        for wid, _ in await self.store.read(_pending, self.clock.now()):
            await self.fire(wid)

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self.aps.running:
            self.aps.shutdown(wait=False)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
