"""Live updates: the engine says "something committed", each open board re-reads its snapshot.

The engine calls `Hub.changed()` after every committed unit of work (bot/engine.py
`on_commit`); each board's event stream wakes, reads its person's snapshot and sends one
`board` event with the panels that changed. What no unit of work announces (a delivery
confirmed by a platform, a countdown turning overdue) is caught by a re-read every
POLL seconds. A new connection (a reconnect too) gets every panel at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

POLL = 1.0  # seconds between re-reads when nothing was announced
RETRY_MS = 500  # how soon a browser reconnects a dropped stream


class Hub:
    def __init__(self) -> None:
        self._waiting: set[asyncio.Event] = set()
        self.version = 0

    def changed(self) -> None:
        """A unit of work committed: wake every open board (called on the event loop, never blocks)."""
        self.version += 1
        for e in self._waiting:
            e.set()

    async def stream(self, send: Callable[[str], Awaitable[None]], panels: Callable[[], Awaitable[dict | None]],
                     connected: Callable[[], bool]) -> None:
        """Send `board` events until the connection goes or `panels()` says the session ended (None)."""
        woken = asyncio.Event()
        self._waiting.add(woken)
        last: dict = {}
        try:
            while connected():
                woken.clear()
                now = await panels()
                if now is None:
                    await send(json.dumps({"signed_out": True}))
                    return
                changed = {k: v for k, v in now.items() if last.get(k) != v and k != "now"}
                if changed or not last:
                    await send(json.dumps({"panels": changed, "now": now.get("now"), "full": not last}))
                last = now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), POLL)
        finally:
            self._waiting.discard(woken)
