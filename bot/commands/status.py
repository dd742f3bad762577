"""`saferbot status`: one screen for the IT admin or duty manager: is it running, and is anything waiting.

Read only: it never creates the database or its tables (a mistyped SAFERBOT_DB shows as
"does not exist" rather than as a fresh empty store), and it asks the instance lock or the
lease itself, as a second `saferbot run` would, so a stale pid file cannot mislead it.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..relay_queue import set_aside
from ..settings import Settings
from ..store import StoreError, columns, pg
from ..storecheck import ago, lease_line, phone_unverified, running, why
from .ops import fail
from .store import shown

WIDTH = 18  # the label column
wall_clock = time.time  # what "overdue" and "ago" are measured against (tests set a fixed moment)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="which instance is active, and what is open or waiting (read only)")
    p.set_defaults(func=cmd_status)


def line(label: str, text: str) -> None:
    print(f"{label + ':':<{WIDTH}}{text}")


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def counts(conn, now: float, active: bool, sections: list[Callable[[Any], list[tuple[str, str]]]]) -> None:
    """The core's counts, and after the alerts each capability's own lines (the App's status_lines)."""
    one = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
    open_alerts = one("SELECT COUNT(*) FROM alerts WHERE status!='resolved'")
    unacked = one("SELECT COUNT(*) FROM alerts WHERE status='open'")
    line("open alerts", f"{open_alerts}" + (f" ({unacked} not yet acknowledged)" if open_alerts else ""))
    for section in sections:
        for label, text in section(conn):
            line(label, text)
    line("outbox", f"{one('SELECT COUNT(*) FROM outbox WHERE status IN (?, ?)', 'pending', 'sending')}"
                   " message(s) waiting to be sent")
    overdue = one("SELECT COUNT(*) FROM wakeups WHERE status='pending' AND due_at<?", now)
    hint = ""
    if overdue:
        hint = (" (they fire as soon as saferbot starts)" if not active
                else " (a running saferbot fires these within seconds: if this stays, run saferbot doctor)")
    line("overdue wake-ups", f"{overdue}{hint}")
    if "aside_at" in columns(conn, "relay"):  # webhooks a standby relayed that could not be handled (bot/relay.py)
        aside = set_aside(conn)
        if aside:
            line("relay", ", ".join(f"{n} relayed request(s) set aside ({platform})" for platform, n in aside)
                 + ": kept in the relay table, see the log")
    if columns(conn, "trigger_devices"):  # panic buttons (handlers/trigger.py), when there are any
        from handlers.trigger import panic_line

        text = panic_line(conn)
        if text:
            line("panic buttons", text)
    beat = conn.execute("SELECT at FROM heartbeat WHERE id=1").fetchone()
    line("last heartbeat", f"{when(beat[0])} ({ago(now - beat[0])})" if beat else "none written yet")


def status_sqlite(db: Path, now: float, sections: list) -> int:
    if not db.exists():
        line("store", f"SQLite {db.resolve()} (does not exist yet: it is made when saferbot first starts)")
        return 0
    line("store", f"SQLite {db.resolve()} ({db.stat().st_size // 1024} KB)")
    holder = running(db)
    line("active", holder or "not running (nothing holds the instance lock)")
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts(conn, now, holder is not None, sections)
    finally:
        conn.close()
    return 0


def status_postgres(url: str, now: float, sections: list) -> int:
    conn = pg.Connection(url)
    try:
        version = conn.raw("SHOW server_version").fetchone()[0]
        line("store", f"{shown(url)} (server {version})")
        if not conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()[0]:
            line("active", "not running (no saferbot tables here yet: they are made when saferbot first starts)")
            return 0
        active, text = lease_line(conn)
        line("active", text)
        counts(conn, now, active, sections)
    finally:
        conn.close()
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from ..compose import build_app

    now, sections = wall_clock(), build_app().status_lines
    try:
        if settings.on_postgres:
            code = status_postgres(settings.db, now, sections)
        else:
            code = status_sqlite(Path(settings.db), now, sections)
        phones = phone_unverified(settings)
        if phones:
            line("phone numbers", phones + " (they send phone verify in chat)")
        return code
    except BrokenPipeError:
        raise  # the reader went away (saferbot status | head -1): not a store fault (bot/cli.py)
    except (*StoreError, OSError) as e:
        return fail(f"cannot read the store {settings.db_shown} ({why(e, settings.db)}); "
                    "run `saferbot doctor` for what to fix")
