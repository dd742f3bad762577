"""Retention: the nightly purge leaves nothing behind in SQLite's files.

What is kept and for how long is declared by each table's owner (bot/personal_data.py, the *_data.py
modules, docs/data-protection.md); the purge (handlers.report.purge: the daily wake-up and `saferbot
purge`) asks every owner in turn. A purge runs inside a transaction, where SQLite cannot checkpoint,
so this module checkpoints soon after, and purged text leaves the database file and its WAL.
"""

from __future__ import annotations

import sqlite3

from bot.store import checkpoint

# --- the nightly purge inside the running bot ------------------------------------------------------------------
CHECKPOINT_FLAG = "retention.checkpoint"  # a platform_info row the nightly purge leaves for the task below
CHECKPOINT_EVERY = 30.0  # seconds between looks for that flag


def mark_checkpoint_due(conn: sqlite3.Connection, now: float) -> None:
    conn.execute("INSERT INTO platform_info(key, value, updated_at) VALUES(?, 'due', ?)"
                 " ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
                 (CHECKPOINT_FLAG, now))


def _checkpoint_if_due(conn: sqlite3.Connection) -> bool:
    if not conn.execute("SELECT 1 FROM platform_info WHERE key=?", (CHECKPOINT_FLAG,)).fetchone():
        return False
    conn.execute("DELETE FROM platform_info WHERE key=?", (CHECKPOINT_FLAG,))  # autocommit: outside any unit
    checkpoint(conn)
    return True


async def watch_checkpoints(engine) -> None:
    """Start-up hook: a purge runs inside a transaction, where SQLite cannot checkpoint; this task
    checkpoints (TRUNCATE) soon after, so purged text leaves the database file and its WAL."""
    import asyncio

    store = engine.store

    async def watch() -> None:
        while engine.store is store:
            await asyncio.sleep(CHECKPOINT_EVERY)
            try:
                await store.read(_checkpoint_if_due)
            except Exception:  # the store was closed: the engine stopped
                return

    engine._checkpoint_watch = asyncio.get_running_loop().create_task(watch())
