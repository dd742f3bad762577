"""The engine: wires store, clock, scheduler, outbox, router and transports.

platform event -> transport -> Engine.receive -> router/handler (one transaction)
-> after commit: scheduler (wake later) and outbox (deliver) -> transport.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from . import escalation, faults, outage
from .app import App
from .clock import Clock
from .directory import Directory
from .emergency import Emergency, store_fault
from .matching import PhraseMatcher
from .messages import Inbound, Outbound
from .model import Book, Person, Service
from .outbox import Outbox
from .router import route
from .scheduler import Scheduler
from .settings import Settings
from .store import Fenced, Store, StoreError, part_done
from .store.outbox import Claimed, as_claimed, needs_reading
from .transports.base import Transport
from .unit import COVER, Address, Context, Tx

log = logging.getLogger(__name__)
# a unit that wrote at most this many outbox rows, all known (no edit, every card drawn by it), has them
# drawn for the lanes after its commit: a codeword's reply and cards go out one wait sooner on PostgreSQL.
# A lone-working sweep's hundreds are drawn inside the unit, on the database thread, not on the event loop
# (drawn after the commit they held the lanes up: bench/lone_timers.py --db postgresql p50 40-120 ms, not 30)
DRAW_LATER = 16
T = TypeVar("T")

INTAKE_BATCH = 64
TRANSPORT_STOP = 3.0  # seconds a transport may take to stop


class NotStored(Exception):
    """The event could not be committed (full disk, locked store...): do not confirm it to its platform."""


SORRY = "Sorry, I could not do that just now. If you need help, ask a colleague or phone your manager."


class Engine:
    def __init__(self, settings: Settings, book: Book, service: Service, *, app: App | None = None,
                 clock: Clock | None = None, transports: Iterable[Transport] = ()):
        if app is None or not app.readers:  # the core never imports a capability: the entry point composes them
            raise RuntimeError("no capabilities are wired: the entry point must pass an App (bot/compose.py)")
        self.app = app

        self.settings = settings
        self.book = book
        self.service = service
        self.clock = clock or Clock(service.timezone)
        self.transports: dict[str, Transport] = {t.platform: t for t in transports}
        self.directory = Directory(service, app.duty)  # it asks the App's duty, never the roster's tables
        matcher = PhraseMatcher({k: c.phrases for k, c in book.codewords.items()})
        self.ctx = Context(book, self.directory, self.clock, settings, matcher, self.addresses, self.address_of, app)
        self.store: Store | None = None
        self.scheduler: Scheduler | None = None
        self.outbox: Outbox | None = None
        self.started = asyncio.Event()
        self._intake: list[tuple[Inbound, asyncio.Future]] = []
        self._intake_task: asyncio.Task | None = None
        self.emergency = Emergency(self)
        self.overdue_at_start = 0
        self.fence: int | None = None  # PostgreSQL, several instances: the lease generation we act under
        self.may_send: Callable[[], bool] = lambda: True  # the lease is known valid now (bot.instance guard)
        self.on_commit: list[Callable[[], None]] = []  # told after each committed unit of work (the board)

    # --- life cycle ------------------------------------------------------------
    async def start(self) -> int:
        """Open the store, rebuild the outbox and wake-ups, then start transports; returns overdue wake-ups.

        Order matters: start-up hooks (roster edits, the directory's clock) and chat-account
        bindings are in place before any overdue wake-up fires or any platform event arrives.
        """
        self.store = await Store.open(self.settings.db, fence=self.fence)
        self.outbox = Outbox(self.store, self.clock, self.transports, backoff=self.settings.outbox_backoff,
                             backoff_max=self.settings.outbox_backoff_max,
                             max_attempts=self.settings.outbox_max_attempts, on_failed=self._delivery_failed,
                             on_outage=self._outage, probe_interval=self.settings.outbox_probe_interval,
                             outage_notice=self.settings.outbox_outage_notice, may_send=self.may_send)
        await self.outbox.start()
        self.scheduler = Scheduler(self.store, self.clock, self.fire)
        if hasattr(self.clock, "listeners"):
            self.clock.listeners.append(self._clock_moved)
        for hook in self.app.startup:  # the directory first; registration binds chat accounts last
            await hook(self)
        overdue = self.overdue_at_start = await self.scheduler.start()
        for t in self.transports.values():
            await t.start(self)
        self.started.set()
        self.outbox.kick()
        return overdue

    async def stop(self) -> None:
        self.started.clear()  # what runs beside the engine (a relay drain) ends with it
        for t in self.transports.values():
            try:
                await asyncio.wait_for(t.stop(), TRANSPORT_STOP)
            except Exception:  # a platform that does not answer must not hold the stop up
                log.exception("stopping %s", t.platform)
        if self.scheduler:
            await self.scheduler.stop()
        if self.outbox:
            await self.outbox.stop()
        if hasattr(self.clock, "listeners") and self._clock_moved in self.clock.listeners:
            self.clock.listeners.remove(self._clock_moved)
        if self.store:
            await self.store.close()

    async def settle(self, timeout: float = 2.0) -> bool:
        """Wait until nothing due is left to deliver; False if it is still busy after `timeout`."""
        assert self.store and self.outbox
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(0.005)
            busy = await self.store.read(_busy_rows, self.clock.now())
            if not busy and self.outbox.idle():
                return True
        return False

    async def _clock_moved(self) -> None:
        assert self.scheduler and self.outbox
        await self.scheduler.run_due()
        self.outbox.kick()

    # --- addressing ------------------------------------------------------------
    def addresses(self, person: Person) -> list[Address]:
        """Where a person can be reached now, preferred platform first."""
        order = sorted(self.transports.values(), key=lambda t: t.platform != person.prefer)
        out = []
        for t in order:
            addr = t.address(person)
            if addr:
                out.append((t.platform, addr[0], addr[1]))
        return out

    def address_of(self, platform: str, person: Person) -> Address | None:
        """Where a person is on one platform, as that platform's transport says (None: not there)."""
        t = self.transports.get(platform)
        addr = t.address(person) if t else None
        return (platform, addr[0], addr[1]) if addr else None

    # --- units of work ----------------------------------------------------------
    async def perform(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(tx, *args) in one transaction, then schedule and deliver what it recorded."""
        assert self.store is not None
        try:
            tx, result = await self.store.run(self._in_tx, fn, args)
        except StoreError as e:  # the store itself is failing (disk full, broken file): someone is told
            await self.emergency.store_failing(str(e))
            raise
        self._after(tx)
        return result

    def _in_tx(self, conn: sqlite3.Connection, fn: Callable[..., T], args: tuple) -> tuple[Tx, T]:
        tx = Tx(self.ctx, conn, self.clock.now(), claim=True)
        result = fn(tx, *args)
        if len(tx.new_rows) > DRAW_LATER or needs_reading(tx.new_rows, tx.cards):
            tx.claimed = as_claimed(conn, tx.new_rows, tx.cards)  # on the database thread, inside the unit
        else:  # a few rows the unit wrote whole: drawn after the commit (PostgreSQL: no wait before COMMIT)
            tx.claimed = None
        return tx, result

    def _after(self, tx: Tx) -> None:
        assert self.scheduler and self.outbox
        for change in tx.after_commit:  # in-memory state (the directory) follows the committed store
            change()
        for wid, due in tx.wakeups():
            self.scheduler.add(wid, due)
        if tx.dropped:
            self.outbox.drop(tx.dropped)
        self.outbox.accept(tx.claimed if tx.claimed is not None else as_claimed(None, tx.new_rows, tx.cards))
        for listener in self.on_commit:  # the unit is committed whatever a listener does
            try:
                listener()
            except Exception:
                log.exception("an on_commit listener failed")

    async def remember(self, key: str, value: str) -> None:
        """Keep a value a platform reported (e.g. the Telegram bot's username) with the capability that owns it."""
        assert self.store is not None
        now = self.clock.now()
        await self.store.run(lambda conn: [write(conn, key, value, now) for write in self.app.platform_values])

    async def home(self, person: Person) -> list[str]:
        """Lines for a person's overview (Slack App Home): live alerts, lone session, open stubs."""
        return await self.perform(_home, person)

    async def receive(self, msg: Inbound) -> None:
        """Take one inbound event; a repeat of an event id does nothing.

        Events that arrive together are handled in one transaction (group commit: one
        COMMIT instead of one each), each inside its own savepoint so a failing event
        is rolled back alone and its sender gets an apology.

        Returns once the transaction that records the event has committed; raises
        NotStored if it could not commit, so the transport leaves the event unconfirmed
        and the platform delivers it again.
        """
        msg = without_nul(msg)
        if faults.ARMED:
            await faults.pause("intake", msg.key)
        done = asyncio.get_running_loop().create_future()
        self._intake.append((msg, done))
        if self._intake_task is None or self._intake_task.done():
            self._intake_task = asyncio.create_task(self._drain_intake())
        await done
        if faults.ARMED:
            await faults.pause("stored", msg.key)

    async def _drain_intake(self) -> None:
        assert self.store is not None
        while self._intake:
            batch, self._intake = self._intake[:INTAKE_BATCH], self._intake[INTAKE_BATCH:]
            try:
                results = await self.store.run(self._intake_batch, [m for m, _ in batch])
            except Exception as e:
                log.exception("an intake batch failed; its %d event(s) stay unconfirmed", len(batch))
                error = str(e) or type(e).__name__
                for msg, done in batch:
                    try:
                        if not isinstance(e, Fenced):  # fenced: the active instance gets the event again and acts
                            await self.emergency.not_stored(msg, error)
                    except Exception:
                        log.exception("could not answer %s event %s without the store", msg.platform, msg.event_id)
                    if not done.done():
                        done.set_exception(NotStored(error))
                continue
            if self.emergency.failing_since is not None:
                await self.emergency.store_writes()
            for (msg, done), tx in zip(batch, results, strict=True):
                if tx is not None:
                    self._after(tx)
                else:
                    try:
                        await self.perform(_apologise, msg)
                    except Exception:
                        log.exception("could not even apologise")
                if not done.done():
                    done.set_result(None)

    def _intake_batch(self, conn: sqlite3.Connection, msgs: list[Inbound]) -> list[Tx | None]:
        out: list[Tx | None] = []
        for msg in msgs:
            conn.execute("SAVEPOINT inbound")
            try:
                answered = msg.key in self.emergency.answered
                tx, _ = self._in_tx(conn, _intake, (msg, answered))
                part_done(conn)
            except Exception as e:
                # the store failed (disk full, no file descriptor, I/O error, locked): the whole batch is not
                # stored and stays unconfirmed (bot/emergency.py answers it); a handler bug is this event's alone
                if not conn.in_transaction or store_fault(e):
                    raise
                conn.execute("ROLLBACK TO inbound")  # PostgreSQL's first try: raises if the failure is not surely this event's
                log.exception("handling %s event %s failed", msg.platform, msg.event_id)
                tx = None
            conn.execute("RELEASE inbound")
            out.append(tx)
        return out

    async def fire(self, wakeup_id: int) -> None:
        try:
            await self.perform(_wake, wakeup_id)
        except Exception:
            log.exception("wake-up %s failed; trying again in 5 s", wakeup_id)
            if self.scheduler:
                self.scheduler.add(wakeup_id, self.clock.now() + 5)

    def _delivery_failed(self, conn: sqlite3.Connection, c: Claimed, error: str, now: float) -> int:
        """A message that can never arrive: note it on the alert and try the person's other platform."""
        tx = Tx(self.ctx, conn, now)
        person = self.directory.person(c.person)
        d = c.delivery
        name = person.name if person else d.chat_id
        fallback = None
        if person and d.kind == "send":
            tried = {r[0] for r in conn.execute("SELECT DISTINCT platform FROM outbox WHERE person=? AND"
                                                " status='failed' AND created_at>=?", (person.key, now - 3600))}
            out = Outbound(d.text, buttons=d.buttons, priority=d.priority, card=c.card, form=d.form,
                           form_ref=d.form_ref, attachment=d.attachment)
            fallback = tx.send(person, out, alert_id=c.alert_id, tag=c.tag, exclude=tuple(tried | {d.platform}))
        if c.alert_id:
            text = f"message to {name} via {d.platform} failed ({error})"
            text += f"; sent via {fallback} instead" if fallback else ""
            escalation.event(tx, c.alert_id, escalation.Kind.DELIVERY_FAILED, text)
        return tx.queued  # left pending: the claim loop picks them up


    def _outage(self, conn: sqlite3.Connection, platform: str, since: float, now: float, over: bool) -> int:
        """A platform has failed alarm delivery for a while (or is back): timelines and admins are told."""
        tx = Tx(self.ctx, conn, now)
        outage.tell(tx, platform, since, over)
        return tx.queued


def settle_heap() -> None:
    """Once the bot has started: collect, then freeze what is left (gc.freeze). The book, the service's people,
    the directory and the store's machinery live as long as the process, and every full collection would walk
    them again while no alarm moves: with 10,000 people, pauses of up to 80 ms and 600 ms in all over a 20 s
    burst of lone-working escalations (bench/lone_timers.py); frozen, 120 ms in all. What is made later is
    collected as before. Only for a process that runs one engine (`saferbot run`, the benches): frozen objects
    are never freed."""
    gc.collect()
    gc.freeze()


def _clean(value: str) -> str:
    return value.replace("\x00", "") if "\x00" in value else value


def without_nul(msg: Inbound) -> Inbound:
    """Typed text without NUL characters (PostgreSQL text cannot hold one; SQLite cuts text at it in places),
    on every platform alike: a codeword or `lone 45m home visit` with a stray NUL is still what was meant."""
    fields = (msg.text, msg.arg, msg.display_name, msg.event_id, msg.user_id, msg.chat_id, *msg.values.values())
    if not any("\x00" in f for f in fields):
        return msg
    return dataclasses.replace(msg, text=_clean(msg.text), arg=_clean(msg.arg), display_name=_clean(msg.display_name),
                               event_id=_clean(msg.event_id), user_id=_clean(msg.user_id), chat_id=_clean(msg.chat_id),
                               values={k: _clean(v) for k, v in msg.values.items()})


def _busy_rows(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("SELECT COUNT(*) FROM outbox WHERE (status='pending' AND next_at<=?) OR status='sending'",
                        (now,)).fetchone()[0]


class _Repeat(Exception):
    """A platform's retry of an event acted on already: what its handler did in this unit is undone."""


def _intake(tx: Tx, msg: Inbound, answered: bool = False) -> None:
    """Record the event's key, act on it, and keep what was done only if the key was new. The key's answer is read
    after the handler: on PostgreSQL the handler's first read brings it, one wait less before a cover reply leaves.
    A retry whose answer is known at once (SQLite) is not acted on at all; otherwise its handler's rows, messages
    and wake-ups are undone with its savepoint. On PostgreSQL an alert number it took stays used, as a rolled-back
    insert's does (a gap in the numbers, never a second alert)."""
    arrival = tx.arrive(msg.key)
    if arrival.known_repeat():
        return
    try:
        with tx.savepoint("intake"):
            route(tx, msg)
            if not arrival.new():
                raise _Repeat
    except _Repeat:
        return
    except Exception:
        if arrival.readable_repeat():  # its failure was the retry's alone, and undone: the event was acted on already
            log.warning("a retry of %s event %s failed in its handler; undone, as it was acted on already",
                        msg.platform, msg.event_id)
            return
        raise
    if answered:  # the sender already had the cover reply while the store was failing (bot/emergency.py)
        covers = [r["id"] for r in tx.new_rows if r["tag"] == COVER]
        tx.conn.executemany("UPDATE outbox SET status='cancelled' WHERE id=?", [(i,) for i in covers])
        tx.new_rows[:] = [r for r in tx.new_rows if r["tag"] != COVER]


def _home(tx: Tx, person: Person) -> list[str]:
    return [line for section in tx.app.home_sections for line in section(tx, person)]


def _apologise(tx: Tx, msg: Inbound) -> None:
    tx.reply(msg, Outbound(SORRY))


def _wake(tx: Tx, wakeup_id: int) -> None:
    row = tx.conn.execute("UPDATE wakeups SET status='done' WHERE id=? AND status='pending' RETURNING kind, ref",
                          (wakeup_id,)).fetchone()
    if row is None:
        return
    handler = tx.app.wakeups.get(row["kind"])
    if handler is None:
        log.error("no handler for wake-up kind %s", row["kind"])
        return
    handler(tx, row["ref"])
