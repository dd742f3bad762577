"""Leavers and roster changes from outside the running bot.

- reconcile (start-up): someone taken out of the service file, rather than removed with
  `roster remove`, is a leaver too: chat accounts and open invites end, records are re-pointed.
- watch_roster (start-up): a `saferbot roster ...` edit made in another process reaches the
  running bot's directory within SAFERBOT_ROSTER_REFRESH seconds.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from bot import directory as _directory
from bot.directory import Directory

from . import privacy, registration


def _retire_missing(directory: Directory, conn: sqlite3.Connection, now: float) -> list[str]:
    """Someone taken out of the service file (not with `roster remove`) is a leaver too: their chat
    accounts and open invites end, and their records stop answering to the key."""
    keys = {r[0] for r in conn.execute("SELECT person FROM bindings UNION SELECT person FROM invites"
                                       " WHERE status='open'")}
    gone = sorted(k for k in keys if directory.person(k) is None and "~" not in k)
    done = []
    for key in gone:
        try:
            privacy.retire(conn, key, None, now=now, by="service file")
            done.append(key)
        except privacy.StillActive:
            conn.execute("DELETE FROM bindings WHERE person=?", (key,))
            conn.execute("UPDATE invites SET status='revoked' WHERE person=? AND status='open'", (key,))
    return done


async def reconcile(engine) -> None:
    """Start-up hook (after the roster edits are applied, before bindings load)."""
    gone = await engine.store.run(lambda conn: _retire_missing(engine.directory, conn, engine.clock.now()))
    if gone:
        logging.getLogger(__name__).warning("no longer in the service file, treated as leavers: %s", ", ".join(gone))


def _roster_mark(conn: sqlite3.Connection) -> tuple[int, int]:
    return tuple(conn.execute("SELECT COALESCE(MAX(id), 0), COUNT(*) FROM roster_audit").fetchone())  # type: ignore


async def watch_roster(engine) -> None:
    """Start-up hook: command-line roster edits (another process) reach the running bot within
    SAFERBOT_ROSTER_REFRESH seconds; chat edits apply at once anyway. The task ends with the store."""
    store = engine.store
    every = float(getattr(engine.settings, "roster_refresh", 2.0) or 2.0)
    mark = await store.read(_roster_mark)

    async def watch() -> None:
        nonlocal mark
        while engine.store is store:
            await asyncio.sleep(every)
            try:
                now = await store.read(_roster_mark)
                if now != mark:
                    mark = now
                    await store.read(lambda conn: _directory.reload(engine.directory, conn, registration.bind_accounts))
            except Exception:  # the store was closed: the engine stopped
                return

    engine._roster_watch = asyncio.get_running_loop().create_task(watch())  # keep a reference
