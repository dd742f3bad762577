"""Durable delivery: claim stored rows, pace them per platform, retry, fall back.

The store holds every message; this worker is only a cache of what is due. Alarms
go before replies, replies before reminders, reminders before reports; new cards go
before edits, and an edit waiting behind a newer edit of the same message is dropped.
Several alarm cards waiting for one chat go as one digest message (a burst reaches a
duty manager in seconds, not one a second). Results are written back in batches so a
burst of alerts does not queue behind bookkeeping.

Alarms never give up: only a permanent answer ends their tries on a platform. While a
platform fails, one waiting message probes it every `probe_interval`; its first
success releases everything waiting for it, and an outage longer than `outage_notice`
is told (timeline and admins) once, and again when it ends.

Hand-off is the last point before a request leaves the process, and the one place that
decides whether it may: only while this instance's lease is known valid by the local
monotonic clock (`may_send`; a process that wakes from a freeze finds its lease stale and
holds), and only once the platform's transport is connected (a transport still
connecting is not a failure: nothing is counted, nothing backs off, the rows wait in
order). At hand-off a row is marked started (store), so only a row whose request had
begun is in doubt after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace

from .clock import Clock
from .lane import Lane, Result, until_set
from .model import Priority
from .store import Store
from .store import outbox as rows
from .store.outbox import Claimed
from .transports.base import Transport

log = logging.getLogger(__name__)
RESULT_COALESCE = 0.0  # seconds; results are bookkeeping (the message is already delivered)
STORE_RETRY = 0.5  # seconds before handing off again when the started mark could not be written


OnOutage = Callable[[sqlite3.Connection, str, float, float, bool], int]  # conn, platform, since, now, over


class Outbox:
    def __init__(self, store: Store, clock: Clock, transports: dict[str, Transport], *, backoff: float,
                 backoff_max: float, max_attempts: int,
                 on_failed: Callable[[sqlite3.Connection, Claimed, str, float], int],
                 on_outage: OnOutage | None = None, probe_interval: float = 1.0, outage_notice: float = 60.0,
                 may_send: Callable[[], bool] = lambda: True):
        self.store = store
        self.may_send = may_send  # the lease is known valid now (bot.instance); SQLite: always
        self.clock = clock
        self.backoff, self.backoff_max, self.max_attempts = backoff, backoff_max, max_attempts
        self.on_failed = on_failed
        self.on_outage = on_outage
        self.probe_interval, self.outage_notice = probe_interval, outage_notice
        self.down: dict[str, float] = {}  # platform -> when its current run of failures began (engine clock)
        self.told: set[str] = set()  # platforms whose outage has been told
        self.results: list[Result] = []
        self.lanes = {name: Lane(t, self._report, self._hand_off, may_send) for name, t in transports.items()}
        self._starting: list[tuple[list[int], asyncio.Future]] = []
        self._starter: asyncio.Task | None = None
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
                self._report(Result(c, "retry", delay=30, error="platform not running"))
            else:
                lane.push(c)

    def idle(self) -> bool:
        return not self.results and not any(lane.waiting or lane.busy for lane in self.lanes.values())

    def drop(self, ids: list[int]) -> None:
        for lane in self.lanes.values():
            lane.drop(set(ids))

    async def start(self) -> None:
        await self.store.run(rows.release_claims)
        self._tasks = [asyncio.create_task(self._claim_loop()), asyncio.create_task(self._flush_loop()),
                       asyncio.create_task(self._probe_loop())]
        self._tasks += [asyncio.create_task(lane.run()) for lane in self.lanes.values()]

    async def stop(self) -> None:
        if self._starter is not None:
            self._tasks.append(self._starter)
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
            await until_set(self._kick, wait)

    async def _hand_off(self, batch: list[Claimed]) -> list[Claimed] | None:
        """The last point before a request leaves: mark the rows started, then check the lease again.

        None: not now (the lease is not known valid, or the mark could not be written); the lane
        puts the rows back. Otherwise the rows to send now, each with its attempt counted.
        """
        if not self.may_send():
            return None
        marks = [c.delivery.id for c in batch if not c.started]  # a cover reply was marked with its codeword
        try:
            started = await self._mark_started(marks) if marks else set()
        except Exception as e:  # the store cannot write (a lost lease is told by the store's fence)
            log.warning("could not mark %d message(s) as started (%s); holding them", len(batch), type(e).__name__)
            for lane in self.lanes.values():
                lane.paused_until = max(lane.paused_until, time.monotonic() + STORE_RETRY)
            return None
        if not self.may_send():  # the write outlasted the lease's validity (a freeze, a stall): nothing leaves
            return None
        return [replace(c, attempts=c.attempts + 1, started=False) for c in batch if c.started or c.delivery.id in started]

    async def _mark_started(self, ids: list[int]) -> set[int]:
        """One write for every lane handing off at this moment (a burst is not one transaction per card)."""
        done = asyncio.get_running_loop().create_future()
        self._starting.append((ids, done))
        if self._starter is None or self._starter.done():
            self._starter = asyncio.create_task(self._write_starts())
        return await done

    async def _write_starts(self) -> None:
        while self._starting:
            await asyncio.sleep(0)  # let the other lanes handing off now join this write
            waiting, self._starting = self._starting, []
            try:
                started = await self.store.run(rows.mark_started, [i for ids, _ in waiting for i in ids],
                                               self.clock.now())
            except Exception as e:
                for _, done in waiting:
                    if not done.done():
                        done.set_exception(e)
                continue
            for _, done in waiting:
                if not done.done():
                    done.set_result(started)

    def _report(self, result: Result) -> None:
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
                log.exception("writing delivery results failed; keeping them and trying again")
                await asyncio.sleep(0.5)
                self._flush.set()

    async def _probe_loop(self) -> None:
        """While a platform fails, keep one message trying it, so its return is noticed at once."""
        while True:
            await asyncio.sleep(self.probe_interval)
            await self._unconnected()
            for platform in list(self.down):
                lane = self.lanes.get(platform)
                if lane is None or lane.waiting or lane.busy:
                    continue  # something is being tried already
                try:
                    if await self.store.run(rows.probe, platform, self.clock.now()):
                        self.kick()
                except Exception:
                    log.exception("probing %s failed", platform)

    async def _unconnected(self) -> None:
        """A transport that stays unconnected while messages wait is an outage, told as one (never silent)."""
        now = self.clock.now()
        tell = {}
        for platform, lane in self.lanes.items():
            if lane.waiting and not lane.transport.connected():
                since = self.down.setdefault(platform, now)
                if platform not in self.told and now - since >= self.outage_notice and self.may_send():
                    self.told.add(platform)
                    tell[platform] = since
        if tell:
            try:
                if await self.store.run(self._apply, [], now, None, tell):
                    self.kick()
            except Exception:
                log.exception("telling an outage failed")
                self.told -= set(tell)

    def _health(self, batch: list[Result], now: float) -> tuple[dict[str, tuple[float, bool]], dict[str, float]]:
        """Platforms that answered again (since, told) and outages long enough to tell (since)."""
        ok = {r.claimed.delivery.platform for r in batch if r.outcome in ("sent", "failed")}
        failing = {r.claimed.delivery.platform for r in batch if r.outcome == "retry" and not r.delay} - ok
        recovered = {p: (self.down.pop(p), p in self.told) for p in ok if p in self.down}
        self.told -= set(recovered)
        tell: dict[str, float] = {}
        for p in failing:
            since = self.down.setdefault(p, now)
            if p not in self.told and now - since >= self.outage_notice:
                self.told.add(p)
                tell[p] = since
        return recovered, tell

    async def _write_results(self) -> None:
        batch, self.results = self.results, []
        if not batch:
            return
        now = self.clock.now()
        recovered, tell = self._health(batch, now)
        try:
            queued = await self.store.run(self._apply, batch, now, recovered, tell)
        except Exception:
            self.results = batch + self.results  # a failed write (disk full) loses no result: no row stays 'sending'
            raise
        if queued:
            self.kick()

    def _apply(self, conn: sqlite3.Connection, batch: list[Result], now: float,
               recovered: dict[str, tuple[float, bool]] | None = None, tell: dict[str, float] | None = None) -> int:
        """Record outcomes; returns how many new rows (edits, fallbacks, retries) were queued."""
        queued = 0
        versions = rows.card_versions(conn, {r.claimed.card for r in batch if r.outcome == "sent" and r.claimed.card
                                             and r.claimed.delivery.kind == "send"})
        for r in batch:
            c = r.claimed
            alarm = c.delivery.priority == Priority.alarm
            if r.outcome == "sent":
                conn.execute("UPDATE outbox SET status='sent', sent_at=COALESCE(sent_at, ?), message_ref=?, card_version=?, error=NULL,"
                             " digest=? WHERE id=?", (now, r.message_ref, c.card_version, r.digest, c.delivery.id))
                if c.card and c.delivery.kind == "send":  # the card changed while this copy was on its way
                    current = versions.get(c.card)
                    if current is not None and c.card_version is not None and current > c.card_version:
                        queued += len(rows.queue_edits(conn, c.card, now))
            elif r.outcome == "superseded":  # a newer edit of the same message went instead
                conn.execute("UPDATE outbox SET status='superseded', sent_at=? WHERE id=?", (now, c.delivery.id))
            elif r.outcome == "retry" and (alarm or c.attempts < self.max_attempts or r.delay):
                # alarms never give up: they wait for the platform as long as it takes
                delay = r.delay or min(self.backoff * 2 ** (c.attempts - 1), self.backoff_max)
                conn.execute("UPDATE outbox SET status='pending', next_at=?, error=?, sent_at=NULL,"
                             " in_doubt=CASE WHEN ? THEN 1 ELSE in_doubt END WHERE id=? AND status='sending'",
                             (now + delay, r.error, r.in_doubt, c.delivery.id))
                queued += 1
            else:
                error = r.error if r.outcome == "failed" else f"gave up after {c.attempts} tries: {r.error}"
                conn.execute("UPDATE outbox SET status='failed', error=? WHERE id=?", (error, c.delivery.id))
                queued += self.on_failed(conn, c, error, now)
        for platform, (since, told) in (recovered or {}).items():
            queued += rows.release_waiting(conn, platform, now)
            if told and self.on_outage:
                queued += self.on_outage(conn, platform, since, now, True)
        for platform, since in (tell or {}).items():
            if self.on_outage:
                queued += self.on_outage(conn, platform, since, now, False)
        return queued
