"""A transport that records deliveries in memory: for tests and benchmarks."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..messages import Delivery, Inbound
from ..model import Person
from .base import Limits, Transport

if TYPE_CHECKING:
    from ..engine import Engine


@dataclass
class Record:
    delivery: Delivery
    at: float  # time.perf_counter() when handed to the transport
    ref: str


class MemoryTransport(Transport):
    def __init__(self, platform: str = "console", limits: Limits | None = None):
        self.platform = platform  # type: ignore[misc]
        self.limits = limits or Limits()
        self.records: list[Record] = []
        self.fault: Callable[[Delivery], Awaitable[None]] | None = None  # may raise to simulate failures
        self.engine: Engine | None = None
        self._ids = itertools.count(1)
        self._events = itertools.count(1)

    async def start(self, engine: Engine) -> None:
        self.engine = engine

    async def stop(self) -> None:
        return None

    async def deliver(self, d: Delivery) -> str | None:
        at = time.perf_counter()
        if self.fault:
            await self.fault(d)
        ref = d.message_ref if d.kind == "edit" else f"m{next(self._ids)}"
        self.records.append(Record(d, at, ref or ""))
        return ref

    def address(self, person: Person) -> tuple[str, str] | None:
        if self.platform == "console":
            return person.key, person.key
        ident = getattr(person, self.platform, None)
        return (str(ident), str(ident)) if ident else None

    # --- test helpers ---------------------------------------------------------
    async def say(self, user: str, text: str = "", *, action: str | None = None, arg: str = "",
                  event_id: str | None = None, chat: str | None = None, is_group: bool = False) -> None:
        assert self.engine is not None
        await self.engine.receive(Inbound(platform=self.platform, event_id=event_id or f"e{next(self._events)}",
                                          user_id=user, chat_id=chat or user, text=text, action=action, arg=arg,
                                          is_group=is_group))

    def to(self, chat: str) -> list[Delivery]:
        return [r.delivery for r in self.records if r.delivery.chat_id == chat]

    def latest(self, chat: str) -> Delivery | None:
        """What the person sees now in their newest message (edits applied)."""
        sends = [r for r in self.records if r.delivery.chat_id == chat and r.delivery.kind == "send"]
        if not sends:
            return None
        last = sends[-1]
        edits = [r for r in self.records if r.delivery.kind == "edit" and r.ref == last.ref
                 and r.delivery.chat_id == chat]
        return edits[-1].delivery if edits else last.delivery
