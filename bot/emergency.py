"""When the store cannot save: never silent.

A codeword that cannot be written (disk full, a broken file) still gets its cover reply,
and the people of its ladder's first tier and the admins are told directly, through the
transports, that an alert was raised and cannot be saved. Admins are told once per fault
that the store is failing, and once when it writes again. Nothing here touches the
store: it is the path for when the store is the fault.

The event itself stays unconfirmed (the engine raises NotStored), so Telegram and Slack
deliver it again; once the store writes again the repeat raises the real alert. Each
event is answered here once, however often it comes back.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Mapping
from typing import Protocol

import psycopg

from .clock import Clock
from .directory import Directory
from .messages import Delivery, Inbound
from .model import Book, Person, Priority, Role
from .transports.base import Transport, unleased
from .unit import Address, Context

log = logging.getLogger(__name__)

SORRY_NOT_SAVED = ("Sorry, I could not save that just now. If you need help, ask a colleague or phone "
                   "your manager.")


# SQLite result codes (primary) that mean the store itself is failing, not the SQL of a handler:
# BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB
_SQLITE_FAULTS = {5, 6, 7, 8, 10, 11, 13, 14, 15, 26}
_SQLITE_WORDS = ("unable to open", "disk i/o", "locked", "disk is full", "readonly", "busy", "out of memory",
                 "malformed", "not a database")
_OS_FAULTS = {errno.EMFILE, errno.ENFILE, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EROFS}


def store_fault(e: BaseException) -> bool:
    """Is this the store failing (no file descriptor left, I/O error, locked, full, connection gone)?

    Such an event must not be confirmed to its platform: it takes the not-stored path and comes
    again. Anything else raised while handling is a bug in that one event (it gets "Sorry").
    """
    if isinstance(e, sqlite3.OperationalError):
        code = getattr(e, "sqlite_errorcode", None)
        return (code is not None and code & 0xFF in _SQLITE_FAULTS) or any(w in str(e).lower() for w in _SQLITE_WORDS)
    if isinstance(e, (sqlite3.InternalError, psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    if isinstance(e, MemoryError):
        return True
    return isinstance(e, OSError) and e.errno in _OS_FAULTS


class Served(Protocol):
    """What the emergency path needs of the engine it serves (it never imports the engine: no circle)."""

    directory: Directory
    book: Book
    clock: Clock
    ctx: Context
    transports: Mapping[str, Transport]

    def addresses(self, person: Person) -> list[Address]: ...


class Emergency:
    def __init__(self, engine: Served):
        self.engine = engine
        self.answered: set[str] = set()  # event keys already answered without the store
        self.failing_since: float | None = None  # store failing: admins were told at this time

    async def not_stored(self, msg: Inbound, error: str) -> None:
        """Answer one event the store could not save, and tell the people who must act."""
        key = msg.key
        if key in self.answered:
            return
        self.answered.add(key)
        await self.store_failing(error)
        e = self.engine
        person = e.directory.find(msg.platform, msg.user_id)
        code_key = e.ctx.matcher.match(msg.text) if (person and msg.text and not msg.action) else None
        if person is None or code_key is None or person.role == Role.volunteer:
            if person is not None:
                await self._direct(msg.platform, msg.chat_id, msg.user_id, SORRY_NOT_SAVED, Priority.reply)
            return
        codeword = e.book.codewords[code_key]
        await self._direct(msg.platform, msg.chat_id, msg.user_id, codeword.cover_reply, Priority.alarm)
        at = e.clock.local().strftime("%H:%M")
        text = (f"URGENT - NOT SAVED: {person.name} sent a codeword ({codeword.meaning}) at "
                f"{e.directory.branch_name(person.branch)} at {at}. saferbot cannot save to its database "
                f"right now, so this alert has no buttons and will not escalate: act on this message and "
                f"contact {person.name} now.")
        tier = e.book.ladders[codeword.ladder].tiers[0]
        for p in self._people(tier.notify, person) + self._admins(exclude=person):
            await self._to_person(p, text, Priority.alarm)

    async def alarm_unsaved(self, key: str, text: str, notify: tuple[str, ...], branch: str, error: str) -> None:
        """An alarm not raised by a person (a panic button) that the store could not save: the people of
        `notify` at `branch` and the admins are told directly, once per `key`."""
        if key in self.answered:
            return
        self.answered.add(key)
        await self.store_failing(error)
        nobody = Person(key="", name="", role=Role.staff, branch=branch)
        for p in self._people(notify, nobody) + self._admins():
            await self._to_person(p, text, Priority.alarm)

    async def store_failing(self, error: str) -> None:
        if self.failing_since is not None:
            return
        self.failing_since = self.engine.clock.now()
        log.error("the store cannot write (%s): answering without it and telling the admins", error)
        await self._admins_told(
            f"saferbot cannot write to its database ({error}). Codewords still reach the first people "
            f"of their ladder and the admins directly, but nothing is saved and nothing escalates until "
            f"this is fixed. Check free disk space and the database file on the server.")

    async def store_writes(self) -> None:
        """Called after a successful write: the fault has cleared."""
        if self.failing_since is None:
            return
        since, self.failing_since = self.engine.clock.local(self.failing_since).strftime("%H:%M"), None
        log.warning("the store writes again")
        await self._admins_told(f"saferbot can write to its database again (it could not since {since}). "
                                f"Messages sent meanwhile are being handled now.")

    # --- people and direct delivery --------------------------------------------------
    def _people(self, targets: tuple[str, ...], sender: Person) -> list[Person]:
        d = self.engine.directory
        keys: list[str] = []
        for t in targets:
            if t == "duty-manager":
                keys += d.duty_managers(None, sender.branch, d.local())
            elif t.startswith("role:"):
                keys += [p.key for p in d.with_role(Role(t[5:]), sender.branch)]
            elif t.startswith("person:"):
                keys.append(t[7:])
        people = [p for k in dict.fromkeys(keys) if (p := d.person(k))]
        return [p for p in people if p.key != sender.key and p.role != Role.volunteer]

    def _admins(self, exclude: Person | None = None) -> list[Person]:
        return [p for p in self.engine.directory.people.values()
                if p.role == Role.admin and (exclude is None or p.key != exclude.key)]

    async def _admins_told(self, text: str) -> None:
        for p in self._admins():
            await self._to_person(p, text, Priority.alarm)

    async def _to_person(self, person: Person, text: str, priority: Priority) -> None:
        for platform, chat, user in self.engine.addresses(person):
            if await self._direct(platform, chat, user, text, priority):
                return
        log.error("could not reach %s directly", person.key)

    async def _direct(self, platform: str, chat: str, user: str, text: str, priority: Priority) -> bool:
        transport = self.engine.transports.get(platform)
        if transport is None:
            return False
        d = Delivery(id=0, kind="send", platform=platform, chat_id=chat, user_id=user, text=text, buttons=(),
                     priority=int(priority))
        try:
            with unleased():  # the marked not-stored path goes without the lease (bot/transports/gate.py)
                await transport.deliver(d)
            return True
        except Exception as exc:  # one platform failing: the caller tries the person's next address
            log.error("direct delivery via %s failed: %s", platform, exc)
            return False

