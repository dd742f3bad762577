"""What doctor, status, backup and migrate-store all ask of a store: who runs on it, whether a file is a whole
saferbot database, whether this user may write, and an error said without its password.

Runtime, below the CLI verbs (bot/commands/): doctor uses these checks and the verbs use doctor, so
they live here rather than in a verb (tests/test_layers.py).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from .instance import InstanceLock
from .settings import Settings, hide_password, passwords_in
from .store import columns, open_read_only, pg


# --- the lock the running bot holds beside the database ---------------------------------------------------
def running(db: Path) -> str | None:
    """Who holds the instance lock on this database ('pid 123 on host ...'), or None when no bot runs.

    Asks the lock itself (bot/instance.py), not the pid in the file: a stale file from a crash,
    or a pid reused by another program, cannot mislead it.
    """
    lock = InstanceLock(db)
    if lock.try_acquire():
        lock.release()
        return None
    return lock.holder()


# --- checking a database file ------------------------------------------------------------------------------
def side_files(path: Path) -> set[Path]:
    return {p for p in (path.with_name(path.name + "-shm"), path.with_name(path.name + "-wal")) if p.exists()}


def tidy(path: Path, before: set[Path]) -> None:
    """Remove the -shm/-wal files a read-only look at a WAL-mode file left beside it (it never writes to them)."""
    for p in side_files(path) - before:
        p.unlink(missing_ok=True)


def check_database(path: Path) -> str | None:
    """None if `path` is a whole saferbot database this version can use, else why not."""
    before = side_files(path)
    try:
        return _check_database(path)
    finally:
        tidy(path, before)


def _check_database(path: Path) -> str | None:
    from .store.migrations import newer as newer_than_us

    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = con.execute("PRAGMA integrity_check").fetchall()
            if result != [("ok",)]:
                return "integrity check failed: " + "; ".join(r[0] for r in result[:3])
            rows = con.execute("SELECT component, version FROM schema_version").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return f"not a readable database ({e})"
    newer = newer_than_us(rows)
    if newer:
        return f"written by a newer saferbot (parts: {', '.join(newer)}); upgrade saferbot first"
    return None


def ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def lease_line(conn: pg.Connection) -> tuple[bool, str]:
    """(an instance is active, what to say): the lease row, read in the database's own clock."""
    from .lease import NOW, describe

    row = conn.raw(f"SELECT holder, generation, since, renewed_at, expires_at, {NOW} FROM lease"
                   " WHERE name='active'").fetchone()
    if row is None:
        return False, "not running (no instance has held the lease yet)"
    holder, generation, _, renewed_at, expires_at, now = row
    if expires_at > now:
        return True, describe(tuple(row[:5]), now)
    return False, (f"not running: the lease is free (last held by {holder}, generation {generation}, "
                   f"last renewed {ago(now - renewed_at)})")


def why(error: BaseException, *urls: str) -> str:
    """An error's first line for a message, with any password in it hidden (libpq may echo a bad URL)."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    for url in urls:
        for secret in passwords_in(url):
            text = text.replace(secret, "***")
    return f"{type(error).__name__}: " + hide_password(text)


def write_probe(conn: sqlite3.Connection | pg.Connection) -> None:
    """Prove this user may write the store (`saferbot doctor`): one intake row, always rolled back."""
    conn.execute("BEGIN")
    try:
        conn.execute("INSERT INTO inbound(key, at) VALUES(?, ?)", (f"doctor:{time.time_ns()}", time.time()))
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def unvacuumed(conn: pg.Connection) -> str | None:
    """Why PostgreSQL would never reclaim this schema's dead rows, or None. Every message is a row updated on its way
    out (marked started, then sent), so without autovacuum the outbox, alert and wake-up tables and their indexes
    only grow, and every claim and intake reads further through them: alerts slower month by month, with nothing
    failing. Off for the server (autovacuum, or track_counts, which it needs), or for some of this schema's tables
    (autovacuum_enabled=false)."""
    why: list[str] = []
    off = [name for name in ("autovacuum", "track_counts") if conn.raw(f"SHOW {name}").fetchone()[0] != "on"]
    if off:
        why.append(f"{' and '.join(off)} {'is' if len(off) == 1 else 'are'} off on the server")
    tables = [r[0] for r in conn.raw(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid=c.relnamespace WHERE n.nspname=current_schema()"
        " AND c.relkind='r' AND 'autovacuum_enabled=false' = ANY(COALESCE(c.reloptions, '{}')) ORDER BY c.relname")]
    if tables:
        why.append(f"autovacuum is turned off for table{'s' if len(tables) > 1 else ''} {', '.join(tables)}")
    return "; ".join(why) or None


# --- the phone rung: who it cannot reach (status and doctor) -------------------------------------------------
def phone_unverified(settings: Settings) -> str | None:
    """People a phone tier of the ladder cannot reach (handlers/phone.py), read from the store read-only."""
    from handlers.phone import unverified_text

    from .book import ConfigError, load_all

    try:
        book, service = load_all(settings.codewords_file, settings.service_file)
    except ConfigError:
        return None  # check-config and doctor report the files themselves
    conn = open_read_only(settings.db)
    try:
        if conn is not None and "person" not in columns(conn, "contact_methods"):
            conn.close()
            conn = None
        if conn is None:  # no store or no phone tables yet: nobody has verified a number
            conn = sqlite3.connect(":memory:")
            conn.execute("CREATE TABLE contact_methods(person, number, channel, state)")
        return unverified_text(conn, book, list(service.people.values()))
    finally:
        conn.close()
