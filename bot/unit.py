"""Tx: what a handler gets for one unit of work.

A handler decides and records, all inside one database transaction: outgoing
messages become outbox rows, later work becomes wake-up rows, timeline entries are
written next to the alert. Only after the commit does the engine schedule the
wake-ups and wake the outbox, so nothing is acted on before it is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .messages import Inbound, Outbound, buttons_to_json
from .store import answered, outbox, part_done

if TYPE_CHECKING:
    from .app import App
    from .clock import Clock
    from .directory import Directory
    from .matching import PhraseMatcher
    from .model import Book, Person
    from .settings import Settings

Address = tuple[str, str, str]  # platform, chat_id, user_id
WAKE = "INSERT INTO wakeups(kind, ref, due_at) VALUES(?,?,?)"


@dataclass
class Context:
    """The engine's read-only parts that handlers may consult."""

    book: Book
    directory: Directory
    clock: Clock
    settings: Settings
    matcher: PhraseMatcher
    addresses: Callable[[Person], list[Address]]
    address_of: Callable[[str, Person], Address | None]  # one platform's address for a person (its transport's)
    app: App  # the composition: what capabilities answer to, on which ports


@dataclass
class Tx:
    ctx: Context
    conn: sqlite3.Connection
    now: float
    new_wakeups: list[tuple[Any, float]] = field(default_factory=list)  # (the insert's cursor: its id, due)
    dropped: list[int] = field(default_factory=list)  # outbox ids cancelled while claimed
    after_commit: list[Callable[[], None]] = field(default_factory=list)  # in-memory changes, once committed
    claim: bool = False  # claim new outbox rows as they are written (the engine delivers them after commit)
    new_rows: list[sqlite3.Row] = field(default_factory=list)  # outbox rows written by this unit
    claimed: list[outbox.Claimed] | None = field(default_factory=list)  # ...what the lanes get after the commit
    # (None: drawn after the commit from new_rows, which needs nothing read: Engine._in_tx)
    cards: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # cards set: key -> version, text, buttons
    new_alerts: dict[int, frozenset[str]] = field(default_factory=dict)  # raised in this unit -> who they are about

    @property
    def queued(self) -> int:
        return len(self.new_rows)

    # --- shortcuts -------------------------------------------------------------
    @property
    def book(self) -> Book:
        return self.ctx.book

    @property
    def app(self) -> App:
        return self.ctx.app

    @property
    def directory(self) -> Directory:
        return self.ctx.directory

    def local(self, ts: float | None = None) -> datetime:
        return self.ctx.clock.local(self.now if ts is None else ts)

    def hhmm(self, ts: float) -> str:
        return self.ctx.clock.hhmm(ts)

    def person(self, key: str | None) -> Person | None:
        return self.ctx.directory.person(key)

    # --- outgoing --------------------------------------------------------------
    def send(self, person: Person, out: Outbound, *, alert_id: int | None = None, tag: str = "",
             exclude: tuple[str, ...] = ()) -> str | None:
        """Queue a message to a person on their preferred platform; returns the platform used."""
        for platform, chat_id, user_id in self.ctx.addresses(person):
            if platform in exclude:
                continue
            self._enqueue(platform, chat_id, user_id, out, person=person.key, alert_id=alert_id, tag=tag)
            return platform
        return None

    def reply(self, msg: Inbound, out: Outbound, *, person: Person | None = None, alert_id: int | None = None,
              tag: str = "reply") -> None:
        """Answer in the chat the message came from."""
        self._enqueue(msg.platform, msg.chat_id, msg.user_id, out, person=person.key if person else None,
                      alert_id=alert_id, tag=tag)

    def send_to(self, address: Address, out: Outbound, *, person: str | None = None,
                alert_id: int | None = None, tag: str = "") -> None:
        self._enqueue(*address, out, person=person, alert_id=alert_id, tag=tag)

    def _enqueue(self, platform: str, chat_id: str, user_id: str, out: Outbound, *, person: str | None,
                 alert_id: int | None, tag: str) -> None:
        self.new_rows.append(outbox.enqueue(
            self.conn, now=self.now, platform=platform, chat_id=chat_id, user_id=user_id, text=out.text,
            buttons=buttons_to_json(out.buttons), priority=int(out.priority), person=person, card=out.card,
            alert_id=alert_id, tag=tag, form=out.form, form_ref=out.form_ref, ephemeral=out.ephemeral,
            attachment=out.attachment, claim=self.claim, started=tag == COVER and out.card is None))

    def set_card(self, key: str, out: Outbound, *, new: bool = False) -> None:
        """Create or change a live card; every delivered copy gets edited. `new`: the card of an alert raised
        in this unit, which has no copies yet (written without waiting; an existing key fails the unit)."""
        buttons = buttons_to_json(out.buttons)
        if new:
            self.conn.execute("INSERT INTO cards(key, version, text, buttons) VALUES(?, 1, ?, ?)",
                              (key, out.text, buttons))
            self.cards[key] = (1, out.text, buttons)
            return
        version = self.conn.execute(
            "INSERT INTO cards(key, version, text, buttons) VALUES(?, 1, ?, ?) ON CONFLICT(key) DO UPDATE"
            " SET version=cards.version+1, text=excluded.text, buttons=excluded.buttons RETURNING version",
            (key, out.text, buttons),
        ).fetchone()[0]
        self.cards[key] = (version, out.text, buttons)
        if version > 1:  # a new card has no copies yet
            self.new_rows += outbox.queue_edits(self.conn, key, self.now, claim=self.claim)

    # --- later -----------------------------------------------------------------
    def wake(self, kind: str, ref: str | int, due_at: float) -> None:
        """A wake-up row; the scheduler is told its id once the unit has committed (`wakeups`)."""
        # the id is read after the unit (PostgreSQL pipelines the insert; RETURNING costs SQLite 3x)
        self.new_wakeups.append((self.conn.execute(WAKE, (kind, str(ref), due_at)), due_at))

    def wakeups(self) -> list[tuple[int, float]]:
        """The wake-ups this unit wrote: (id, due)."""
        return [(int(cursor.lastrowid), due) for cursor, due in self.new_wakeups]

    def first_time(self, key: str) -> bool:
        """Record an incoming event's key (the core's `inbound` table); False if it was seen before, so a
        platform's or provider's retry of an event already acted on is acted on once."""
        return self.arrive(key).new()

    def arrive(self, key: str) -> Arrival:
        """Record an incoming event's key as `first_time` does; whether it was new is read when needed."""
        return Arrival(self.conn.execute("INSERT INTO inbound(key, at) VALUES(?, ?) ON CONFLICT DO NOTHING",
                                         (key, self.now)))

    def pending_wakeup(self, kind: str, ref: str | int) -> float | None:
        """When the earliest pending wake-up of this kind and ref is due (None: there is none)."""
        return self.conn.execute("SELECT MIN(due_at) FROM wakeups WHERE kind=? AND ref=? AND status='pending'",
                                 (kind, str(ref))).fetchone()[0]

    def then(self, fn: Callable[[], None]) -> None:
        """Change in-memory state (the directory) only once this unit has committed: a rollback leaves
        memory and the store agreeing."""
        self.after_commit.append(fn)

    @contextmanager
    def savepoint(self, name: str = "unit_step") -> Iterator[None]:
        """A part of this unit that fails alone: on an exception its rows, messages, wake-ups and
        in-memory changes are undone (the rest of the unit stands) and the exception goes on."""
        marks = len(self.new_rows), len(self.new_wakeups), len(self.dropped), len(self.after_commit)
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
            part_done(self.conn)
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            rows, wakes, dropped, later = marks
            del self.new_rows[rows:], self.new_wakeups[wakes:], self.dropped[dropped:], self.after_commit[later:]
            raise
        self.conn.execute(f"RELEASE {name}")

    def cancel_wakeups(self, kind: str, ref: str | int) -> int:
        return cancel_wakeups(self.conn, (kind,), (ref,))

    def cancel_queued(self, alert_id: int, tag: str) -> None:
        """Withdraw messages of an alert that have not gone yet (e.g. notifications after an ack)."""
        self.dropped += outbox.cancel_for_alert(self.conn, alert_id, tag)


# A codeword's cover reply is marked started in its codeword's own unit, not in a unit of its own at hand-off: one
# commit less before the sender sees it. Only a message whose request had begun should be in doubt after a crash
# (docs/delivery.md); for a plain cover reply that changes nothing the sender sees: only a card in doubt is marked
# REPEAT, so one still held goes once, word for word (Slack looks for it in the chat first). A cover that is a live
# card (a codeword asking for backup) is marked at its hand-off as every card is: in doubt it would say REPEAT.
COVER = "cover"


@dataclass(frozen=True)
class Arrival:
    """An incoming event's key, recorded. Whether it was new is read when needed: PostgreSQL answers it with the
    unit's next read (bot/store/pg.py), so a codeword's handler does not wait for it on its own."""

    cursor: Any

    def new(self) -> bool:
        return bool(self.cursor.rowcount)

    def known_repeat(self) -> bool:
        """Seen before, and known without a wait: SQLite at once, PostgreSQL once the answer is here."""
        return answered(self.cursor) and not self.new()

    def readable_repeat(self) -> bool:
        """After its handler failed: seen before. False when that cannot be read (the store is failing): the
        failure then goes on as before."""
        try:
            return not self.new()
        except Exception:
            return False


def wake(conn: sqlite3.Connection, kind: str, ref: str | int, due_at: float) -> int:
    """A wake-up row (the core's table): the running bot's scheduler fires it, even one written by another process."""
    return int(conn.execute(WAKE, (kind, str(ref), due_at)).lastrowid)


def cancel_wakeups(conn: sqlite3.Connection, kinds: tuple[str, ...], refs: Iterable[str | int]) -> int:
    """Cancel the pending wake-ups of these kinds for these refs (the store's wake-up table is the core's)."""
    return sum(conn.execute("UPDATE wakeups SET status='cancelled' WHERE kind=? AND ref=? AND status='pending'",
                            (kind, str(ref))).rowcount for ref in refs for kind in kinds)
