"""One platform's queue of claimed outbox rows (bot/outbox.py feeds it and records its results).

Priority order, a per-chat gap, a global rate, one send per chat at a time. Rows wait in one
queue per chat; a heap holds the head of each chat that may send now, and another the chats
resting until their per-chat gap has passed. Picking the next row therefore looks at a few heap
entries, never at every waiting row: with 10,000 cards for 100 duty managers waiting while each
manager's chat is busy (a hand-off waits for the store to mark it started) or paced, a scan of
the whole queue on every pick cost the event loop more than the engine's own work.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import islice

from . import digest as digests
from .messages import Delivery
from .model import Priority
from .store.outbox import Claimed
from .transports.base import MaybeDelivered, RetryAfter, Transport, Undeliverable

log = logging.getLogger(__name__)
# the platform counts its rate over a second of arrivals. A request arrives after it leaves and before its
# answer, so it is counted here from leaving until a second after its answer: requests sent a second apart can
# arrive closer together (a store write or a busy loop delays one and not the next), and one 429 holds the
# whole platform back
RATE_WINDOW = 1.0
HOLD = 0.05  # seconds between looks while the lease is stale or the transport is not connected yet
IDLE = 3600.0  # seconds a lane with nothing to send waits for a push
RUN = 32  # rows an unpaced chat hands off at once


@dataclass
class Result:
    """What became of one claimed row (bot/outbox.py writes it to the store)."""

    claimed: Claimed
    outcome: str  # sent | retry | failed | superseded
    message_ref: str | None = None
    delay: float = 0.0
    error: str = ""
    digest: str | None = None  # sent as part of this digest message
    in_doubt: bool = False  # the request left and no answer came: it may have arrived


async def until_set(event: asyncio.Event, timeout: float | None) -> None:
    """Wait for the event or the timeout. asyncio.timeout rather than wait_for: Python 3.11's wait_for can
    swallow a cancel that lands just as the event fires, and a lane's loop would then never stop (seen:
    `Engine.stop` hung after a timed-out send)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()


def _order(c: Claimed) -> tuple[int, int]:
    return c.delivery.priority, c.delivery.id


def _new_card(c: Claimed) -> bool:
    return c.delivery.kind == "send" and c.card is not None


def _digestible(c: Claimed) -> bool:
    d = c.delivery
    return (d.kind == "send" and d.priority == Priority.alarm and c.card is not None and not d.attachment
            and not d.form and not d.ephemeral and len(d.text) <= digests.MAX_CARD_TEXT)


def _first(q: list[Claimed]) -> Claimed:
    """A chat's next row: its first, except that a new card goes before edits of older ones."""
    first = q[0]
    if first.delivery.kind == "edit":
        first = next((c for c in q if c.delivery.priority == first.delivery.priority and _new_card(c)), first)
    return first


def _digest(q: list[Claimed], first: Claimed) -> tuple[list[Claimed], bool]:
    """The alarm cards that go with `first` in one digest message, and whether that message is full (it holds
    all a message can, or more wait than fit). Reads only as far as one message and one more card."""
    others = (c for c in q if c is not first and _digestible(c))
    candidates = [first, *islice(others, digests.MAX_CARDS)]
    fit = max(1, digests.room(c.delivery.text for c in candidates))
    return candidates[:fit], fit < len(candidates) or fit >= digests.MAX_CARDS


def _run(q: list[Claimed]) -> list[Claimed]:
    """The first RUN rows `_first` would pick one after another. They all come from the queue's first RUN
    rows and its first RUN new cards (a pick takes the head or the first new card), so only those are read."""
    new = [c for c in islice((c for c in q if _new_card(c)), RUN)]
    left = sorted({id(c): c for c in q[:RUN] + new}.values(), key=_order)
    run: list[Claimed] = []
    while left and len(run) < RUN:
        c = _first(left)
        run.append(c)
        left = [x for x in left if x is not c]
    return run


HandOff = Callable[[list[Claimed]], Awaitable[list[Claimed] | None]]


class Lane:
    """One platform's queue: priority order, a per-chat gap, a global rate, one send per chat at a time."""

    def __init__(self, transport: Transport, report: Callable[[Result], None], hand_off: HandOff,
                 may_send: Callable[[], bool] = lambda: True):
        self.transport = transport
        self.report = report
        self.hand_off = hand_off
        self.may_send = may_send
        self.queues: dict[str, list[Claimed]] = {}  # chat -> its waiting rows, in _order
        self.waiting = 0  # rows in all queues
        # heads of chats that may send now, (order of the chat's first row, chat); and chats resting until
        # their gap has passed, (free at, chat). Entries go stale (a head taken, a chat busy): checked when popped
        self.ready: list[tuple[tuple[int, int], str]] = []
        self.resting: list[tuple[float, str]] = []
        self.busy: set[str] = set()
        self.last_sent: dict[str, float] = {}  # chat -> when its last request left
        # chat -> c: the platform's count of messages the chat may still take is at least c + t / interval at
        # time t (never more than its burst); see _answered
        self.pace: dict[str, float] = {}
        self.paused_until = 0.0
        self.sent_times: list[float] = []  # when recent requests were answered (for the platform-wide rate)
        self.in_flight = 0  # requests handed off and not answered yet
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()

    def _offer(self, chat: str) -> None:
        """Put the chat's first row where `_next` finds it (every change of a chat's head or state calls this)."""
        q = self.queues.get(chat)
        if not q or chat in self.busy:
            return
        free = self._free_at(chat)
        if free > time.monotonic():
            heapq.heappush(self.resting, (free, chat))
        else:
            heapq.heappush(self.ready, (_order(q[0]), chat))

    def _free_at(self, chat: str) -> float:
        """When the chat may send next: one message an interval after its last (its steady pace), or sooner on
        a message its burst still allows, but only for a full digest: a spare message spent on a part-full one
        is missing when the rest of a flood arrives a moment later."""
        last = self.last_sent.get(chat)
        if last is None:
            return 0.0
        interval = self.transport.chat_interval(chat)
        steady = last + interval
        burst = self.transport.chat_burst(chat)
        if burst <= 1:
            return steady
        spare = (1 - self.pace.get(chat, math.inf)) * interval  # from then on the platform surely has one left
        if spare >= steady:
            return spare
        q = self.queues.get(chat)
        full = bool(q) and _digestible(first := _first(q)) and _digest(q, first)[1]
        return spare if full else steady

    def _answered(self, chat: str) -> None:
        """A request to the chat has been answered: the platform counted it on arrival, at the latest now.

        The platform's count refills one message an interval up to the burst, and each arrival takes one:
        after an arrival at `a` it is min(before, burst) - 1, then grows. Before it the count was at least
        c + a/interval; if it was full instead, burst + (t - a)/interval afterwards, least when `a` is as late
        as it can be (now). So the count after is at least min(c, burst - now/interval) - 1 + t/interval: still
        a straight line, whatever the round trips, and a late message leaves its unused time to the next."""
        interval = self.transport.chat_interval(chat)
        burst = self.transport.chat_burst(chat)
        self.pace[chat] = min(self.pace.get(chat, math.inf), burst - time.monotonic() / interval) - 1

    def _put(self, c: Claimed) -> None:
        bisect.insort(self.queues.setdefault(c.delivery.chat_id, []), c, key=_order)
        self.waiting += 1

    def push(self, c: Claimed) -> None:
        d = c.delivery
        q = self.queues.get(d.chat_id, [])
        if d.kind == "edit" and d.message_ref:  # an older edit of the same message is superseded
            for i, w in enumerate(q):
                if w.delivery.kind == "edit" and w.delivery.message_ref == d.message_ref:
                    old, keep = (w, c) if w.delivery.id < d.id else (c, w)
                    q[i] = keep
                    q.sort(key=_order)
                    self.report(Result(old, "superseded", message_ref=d.message_ref))
                    self._offer(d.chat_id)
                    self.wake.set()
                    return
        self._put(c)
        self._offer(d.chat_id)
        self.wake.set()

    def drop(self, ids: set[int]) -> None:
        for chat, q in list(self.queues.items()):
            kept = [c for c in q if c.delivery.id not in ids]
            if len(kept) != len(q):
                self.waiting -= len(q) - len(kept)
                if kept:
                    self.queues[chat] = kept
                    self._offer(chat)
                else:
                    del self.queues[chat]

    def _next(self, now: float) -> tuple[list[Claimed] | None, float]:
        limits = self.transport.limits
        if now < self.paused_until:
            return None, self.paused_until - now
        if self.waiting and not (self.transport.connected() and self.may_send()):
            return None, HOLD  # not a failure: the rows wait, in order, with no attempt counted
        if limits.per_second:
            self.sent_times = [t for t in self.sent_times if now - t < RATE_WINDOW]
            if len(self.sent_times) + self.in_flight >= limits.per_second:  # an answer sets `wake`
                return None, RATE_WINDOW - (now - self.sent_times[0]) if self.sent_times else IDLE
        while self.resting and self.resting[0][0] <= now:
            _, chat = heapq.heappop(self.resting)
            if (q := self.queues.get(chat)) and chat not in self.busy:
                heapq.heappush(self.ready, (_order(q[0]), chat))
        while self.ready:
            head, chat = heapq.heappop(self.ready)
            q = self.queues.get(chat)
            if not q or chat in self.busy or _order(q[0]) != head:
                continue  # stale: a fresher entry for this chat is in a heap, or it has nothing to send
            free = self._free_at(chat)
            if free > now:
                heapq.heappush(self.resting, (free, chat))
                continue
            return self._take(chat), 0.0
        return None, (self.resting[0][0] - now if self.resting else IDLE)

    def _take(self, chat: str) -> list[Claimed]:
        """What goes to the chat next: on a paced chat its first row, with the other alarm cards waiting for
        it (one digest message); on an unpaced platform (the console) the chat's waiting rows in order, up to RUN, so
        one hand-off (one store write) starts them all instead of each waiting for the one before."""
        q = self.queues[chat]
        if not self.transport.chat_interval(chat) and not self.transport.limits.per_second:
            batch = _run(q)
        elif _digestible(first := _first(q)):
            batch, _ = _digest(q, first)
        else:
            batch = [first]
        taken = {id(c) for c in batch}  # by identity: comparing rows compares them field by field
        rest = [c for c in q if id(c) not in taken]
        if rest:
            self.queues[chat] = rest
        else:
            del self.queues[chat]
        self.waiting -= len(batch)
        return batch

    async def run(self) -> None:
        while True:
            batch, wait = self._next(time.monotonic())
            if batch is None:
                self.wake.clear()
                await until_set(self.wake, wait)
                continue
            chat = batch[0].delivery.chat_id
            self.busy.add(chat)
            self.in_flight += 1
            task = asyncio.create_task(self._deliver(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver(self, batch: list[Claimed]) -> None:
        chat = batch[0].delivery.chat_id
        left = False
        try:
            started = await self.hand_off(batch)
            if not started:
                if started is None:  # not now (a stale lease, a store that cannot write): back in line
                    for c in batch:
                        self._put(c)
                    self.paused_until = max(self.paused_until, time.monotonic() + HOLD)
                return
            left = True
            self.last_sent[chat] = time.monotonic()
            # without any row cancelled meanwhile (an ack)
            if len(started) > 1 and self.transport.chat_interval(chat):
                await self._send(started, as_digest(started), f"d{started[0].delivery.id}")
                return
            for i, c in enumerate(started):  # one row, or an unpaced chat's run, in order
                if i and not self.may_send():  # the lease went stale mid-run: the rest never left
                    for rest in started[i:]:
                        self.report(Result(rest, "retry", delay=HOLD, error="held: the lease is not known valid"))
                    return
                if not await self._send([c], c.delivery, None):
                    for rest in started[i + 1:]:
                        self.report(Result(rest, "retry", delay=self.paused_until - time.monotonic(),
                                           error="held: the platform asked to wait"))
                    return
        finally:
            self.in_flight -= 1
            if left:
                self.sent_times.append(time.monotonic())
                if self.transport.chat_interval(chat):
                    self._answered(chat)
            self.busy.discard(chat)
            self._offer(chat)
            self.wake.set()

    async def _send(self, batch: list[Claimed], delivery: Delivery, key: str | None) -> bool:
        """One request; its outcome reported for every row it carries. False: the whole platform must wait."""

        def report(outcome: str, **kw) -> None:
            for c in batch:
                self.report(Result(c, outcome, digest=key, **kw))

        try:
            report("sent", message_ref=await self.transport.deliver(delivery))
        except RetryAfter as e:
            # the row itself comes back when its next_at passes; a platform-wide limit also holds the lane
            report("retry", delay=e.seconds, error=f"rate limited for {e.seconds:g}s")
            if e.whole_platform:
                self.paused_until = max(self.paused_until, time.monotonic() + e.seconds)
                return False
        except Undeliverable as e:
            report("failed", error=str(e))
        except MaybeDelivered as e:
            log.warning("delivery %s via %s may have arrived: %s", delivery.id, self.transport.platform, e)
            report("retry", error=f"timed out, may have arrived: {e}", in_doubt=True)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # network errors, 5xx: retry with backoff
            log.warning("delivery %s via %s failed: %s", delivery.id, self.transport.platform, e)
            report("retry", error=f"{type(e).__name__}: {e}")
        return True


def as_digest(batch: list[Claimed]) -> Delivery:
    """Several alarm cards for one chat as one message (bot/digest.py lays it out)."""
    first = batch[0].delivery
    text, buttons = digests.compose([(c.alert_id, c.delivery.text, c.delivery.buttons) for c in batch])
    return Delivery(id=first.id, kind="send", platform=first.platform, chat_id=first.chat_id,
                    user_id=first.user_id, text=text, buttons=buttons, priority=first.priority, live=True)
