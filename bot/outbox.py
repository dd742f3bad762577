"""Durable delivery: claim stored rows, pace them per platform, retry, fall back.

The store holds every message; this worker is only a cache of what is due. Alarms
go before replies, replies before reminders, reminders before reports. Results are
written back in batches so a burst of alerts does not queue behind bookkeeping.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from .clock import Clock
from .store import Store
from .store import outbox as rows
from .store.outbox import Claimed
from .transports.base import RetryAfter, Transport, Undeliverable

log = logging.getLogger(__name__)
RESULT_COALESCE = 0.0  # seconds; results are bookkeeping (the message is already delivered)


@dataclass
class _Result:
    claimed: Claimed
    outcome: str  # sent | retry | failed
    message_ref: str | None = None
    delay: float = 0.0
    error: str = ""


def _order(c: Claimed) -> tuple[int, int]:
    return c.delivery.priority, c.delivery.id


class Lane:
    """One platform's queue: priority order, a per-chat gap, a global rate, one send per chat at a time."""

    def __init__(self, transport: Transport, report: Callable[[_Result], None]):
        self.transport = transport
        self.report = report
        self.waiting: list[Claimed] = []
        self.busy: set[str] = set()
        self.chat_free_at: dict[str, float] = {}
        self.paused_until = 0.0
        self.sent_times: list[float] = []
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()

    def push(self, c: Claimed) -> None:
        bisect.insort(self.waiting, c, key=_order)
        self.wake.set()

    def drop(self, ids: set[int]) -> None:
        self.waiting = [c for c in self.waiting if c.delivery.id not in ids]

    def _next(self, now: float) -> tuple[Claimed | None, float]:
        limits = self.transport.limits
        if now < self.paused_until:
            return None, self.paused_until - now
        if limits.per_second:
            self.sent_times = [t for t in self.sent_times if now - t < 1.0]
            if len(self.sent_times) >= limits.per_second:
                return None, 1.0 - (now - self.sent_times[0])
        soonest = 3600.0
        for i, c in enumerate(self.waiting):
            chat = c.delivery.chat_id
            if chat in self.busy:
                continue
            free = self.chat_free_at.get(chat, 0.0)
            if free <= now:
                return self.waiting.pop(i), 0.0
            soonest = min(soonest, free - now)
        return None, soonest

    async def run(self) -> None:
        while True:
            c, wait = self._next(time.monotonic())
            if c is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
                continue
            chat = c.delivery.chat_id
            self.busy.add(chat)
            now = time.monotonic()
            self.sent_times.append(now)
            self.chat_free_at[chat] = now + self.transport.chat_interval(chat)
            task = asyncio.create_task(self._deliver(c))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver(self, c: Claimed) -> None:
        chat = c.delivery.chat_id
        try:
            ref = await self.transport.deliver(c.delivery)
            self.report(_Result(c, "sent", message_ref=ref))
        except RetryAfter as e:
            # the row itself comes back when its next_at passes; a platform-wide limit also holds the lane
            if e.whole_platform:
                self.paused_until = max(self.paused_until, time.monotonic() + e.seconds)
            self.report(_Result(c, "retry", delay=e.seconds, error=f"rate limited for {e.seconds:g}s"))
        except Undeliverable as e:
            self.report(_Result(c, "failed", error=str(e)))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # network errors, 5xx: retry with backoff
            log.warning("delivery %s via %s failed: %s", c.delivery.id, self.transport.platform, e)
            self.report(_Result(c, "retry", error=f"{type(e).__name__}: {e}"))
        finally:
            self.busy.discard(chat)
            self.wake.set()


class Outbox:
    def __init__(self, store: Store, clock: Clock, transports: dict[str, Transport], *, backoff: float,
                 backoff_max: float, max_attempts: int,
                 on_failed: Callable[[sqlite3.Connection, Claimed, str, float], int]):
        self.store = store
        self.clock = clock
        self.backoff, self.backoff_max, self.max_attempts = backoff, backoff_max, max_attempts
        self.on_failed = on_failed
        self.results: list[_Result] = []
        self.lanes = {name: Lane(t, self._report) for name, t in transports.items()}
        self._kick = asyncio.Event()
        self._flush = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def kick(self) -> None:
        self._kick.set()

    def accept(self, claimed: list[Claimed]) -> None:
        """Take rows already claimed in the store and queue them on their platform's lane."""
        for c in claimed:
            lane = self.lanes.get(c.delivery.platform)
            if lane is None:  # the platform is not running now: put it back for later
                self._report(_Result(c, "retry", delay=30, error="platform not running"))
            else:
                lane.push(c)

    def idle(self) -> bool:
        return not self.results and not any(lane.waiting or lane.busy for lane in self.lanes.values())

    def drop(self, ids: list[int]) -> None:
        for lane in self.lanes.values():
            lane.drop(set(ids))

    async def start(self) -> None:
        await self.store.run(rows.release_claims)
        self._tasks = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._flush_loop())]
        self._tasks += [asyncio.create_task(lane.run()) for lane in self.lanes.values()]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for lane in self.lanes.values():
            for t in list(lane.tasks):
                t.cancel()
        await asyncio.gather(*self._tasks, *(t for lane in self.lanes.values() for t in lane.tasks),
                             return_exceptions=True)
        await self._write_results()

    async def _claim_loop(self) -> None:
        while True:
            self._kick.clear()
            try:
                claimed, next_due = await self.store.run(rows.claim_due, self.clock.now(), 500)
            except Exception:
                log.exception("claiming outbox rows failed")
                claimed, next_due = [], self.clock.now() + 1
            self.accept(claimed)
            if len(claimed) == 500:
                continue
            wait = None if next_due is None else max(0.0, next_due - self.clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout=wait)

    def _report(self, result: _Result) -> None:
        self.results.append(result)
        self._flush.set()

    async def _flush_loop(self) -> None:
        while True:
            await self._flush.wait()
            # gather results for a moment: one transaction for many, and new alerts go first
            await asyncio.sleep(RESULT_COALESCE)
            self._flush.clear()
            try:
                await self._write_results()
            except Exception:
                log.exception("writing delivery results failed")
                await asyncio.sleep(0.5)

    async def _write_results(self) -> None:
        batch, self.results = self.results, []
        if batch and await self.store.run(self._apply, batch, self.clock.now()):
            self.kick()

    def _apply(self, conn: sqlite3.Connection, batch: list[_Result], now: float) -> int:
        """Record outcomes; returns how many new rows (edits, fallbacks, retries) were queued."""
        queued = 0
        for r in batch:
            c = r.claimed
            if r.outcome == "sent":
                conn.execute("UPDATE outbox SET status='sent', sent_at=?, message_ref=?, card_version=?, error=NULL"
                             " WHERE id=?", (now, r.message_ref, c.card_version, c.delivery.id))
                if c.card and c.delivery.kind == "send":
                    current = conn.execute("SELECT version FROM cards WHERE key=?", (c.card,)).fetchone()
                    if current and c.card_version is not None and current[0] > c.card_version:
                        queued += len(rows.queue_edits(conn, c.card, now))
            elif r.outcome == "retry" and (c.attempts < self.max_attempts or r.delay):
                delay = r.delay or min(self.backoff * 2 ** (c.attempts - 1), self.backoff_max)
                conn.execute("UPDATE outbox SET status='pending', next_at=?, error=? WHERE id=? AND status='sending'",
                             (now + delay, r.error, c.delivery.id))
                queued += 1
            else:
                conn.execute("UPDATE outbox SET status='failed', error=? WHERE id=?", (r.error, c.delivery.id))
                queued += self.on_failed(conn, c, r.error, now)
        return queued
