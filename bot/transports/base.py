"""What a transport is: it turns platform events into Inbound and Deliveries into platform calls.

Transports hold no business rules. They raise RetryAfter when the platform asks them to
slow down and Undeliverable when a message can never arrive (blocked, chat not found);
any other exception counts as a passing fault and the outbox retries with backoff.
"""

from __future__ import annotations

import contextlib
import contextvars
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from ..messages import Delivery
from ..model import Person

# --- the lease at the socket (bot/transports/gate.py asks; bot/emergency.py sends without it) ---------------
_UNLEASED: contextvars.ContextVar[bool] = contextvars.ContextVar("unleased", default=False)


class LeaseNotValid(ConnectionError):
    """Refused at the socket: this instance's lease is not known valid now; nothing was sent."""


@contextlib.contextmanager
def unleased() -> Iterator[None]:
    """Sends inside this block go without the lease (the marked not-stored path)."""
    token = _UNLEASED.set(True)
    try:
        yield
    finally:
        _UNLEASED.reset(token)


def allowed(may_send: Callable[[], bool]) -> bool:
    return _UNLEASED.get() or may_send()


class RetryAfter(Exception):
    def __init__(self, seconds: float, whole_platform: bool = False):
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds
        self.whole_platform = whole_platform


class MaybeDelivered(Exception):
    """The request left but no answer came in time (a timeout): the platform may have taken it, so a
    card sent again says it may be a repeat rather than look like a second alarm."""


class Undeliverable(Exception):
    """The message can never be delivered to this address."""


@dataclass(frozen=True)
class Limits:
    per_second: float | None = None  # across the whole platform
    per_chat_interval: float = 0.0  # seconds between two messages to one chat
    per_chat_burst: int = 1  # messages one chat may take at once before its interval applies


class Transport(ABC):
    platform: ClassVar[str]
    limits: Limits = Limits()

    @abstractmethod
    async def start(self, engine: Any) -> None:
        """Begin receiving; hand each event to `await engine.receive(inbound)`. `engine` is the Engine
        (bot/engine.py): this interface is the engine's, so it does not import the engine back."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def deliver(self, d: Delivery) -> str | None:
        """Send (d.kind == 'send', return the platform's message id) or edit (d.kind == 'edit')."""

    def connected(self) -> bool:
        """Whether a delivery can be tried now; until then the outbox holds rows (no failure, no backoff)."""
        return True

    def chat_interval(self, chat_id: str) -> float:
        """Seconds between two messages to this chat (a platform may pace groups more slowly)."""
        return self.limits.per_chat_interval

    def chat_burst(self, chat_id: str) -> int:
        """Messages this chat may take at once (its interval then refills one each); 1: no burst."""
        return self.limits.per_chat_burst

    @abstractmethod
    def address(self, person: Person) -> tuple[str, str] | None:
        """(chat_id, user_id) for a direct message to this person, or None."""
