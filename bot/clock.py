"""The one source of "now" for the whole engine.

Times are stored as UTC epoch seconds; they are shown in the service's local zone
(Europe/London by default). Tests inject FakeClock and move time by hand.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


@lru_cache(maxsize=1024)
def _hhmm(minute: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(minute * 60, tz).strftime("%H:%M")


class Clock:
    def __init__(self, timezone: str = "Europe/London"):
        self.tz = ZoneInfo(timezone)

    def now(self) -> float:
        return time.time()

    def local(self, ts: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if ts is None else ts, self.tz)

    def hhmm(self, ts: float) -> str:
        return _hhmm(int(ts // 60), self.tz)  # the same minute drawn once: every reminder and card says one

    def stamp(self, ts: float) -> str:
        return self.local(ts).strftime("%a %d %b %Y %H:%M")


class FakeClock(Clock):
    """A clock that only moves when told; advancing wakes whatever listens."""

    def __init__(self, start: float = 1_795_000_000.0, timezone: str = "Europe/London"):
        super().__init__(timezone)
        self._now = start
        self.listeners: list[Callable[[], Awaitable[None]]] = []

    def now(self) -> float:
        return self._now

    async def advance(self, seconds: float) -> None:
        self._now += seconds
        for listener in list(self.listeners):
            await listener()
