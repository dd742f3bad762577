"""Retention for every copy of personal data, not just the incident row.

Called by the purge (handlers.report.purge: the daily wake-up and `saferbot purge`). Each table
that can hold personal text has one rule here, so the whole policy reads in one place:

  outbox              delivered message bodies blanked after SAFERBOT_OUTBOX_RETENTION (30 days);
                      rows older than the incident retention deleted
  alerts              past retention and no longer open: anonymised (who, title, details, replies)
                      or deleted; their timelines (alert_events), recipients and cards deleted
  lone_sessions       past retention and finished: note and person blanked; lone_events deleted
  backup_requests     past retention and closed: what and person blanked; answers deleted
  lockdowns           past retention and ended: message and person blanked; roll calls deleted
  covers, invites     past retention: deleted
  roster_audit        past retention: deleted (it holds phone numbers as they were)
  cards               of a purged incident (welfare checklist), alert, backup request or lockdown: deleted
  inbound             event ids older than the outbox retention: deleted (no text, only duplicates)

These tables belong to other capabilities; this module only ever blanks or deletes old rows in
them, never changes live ones, so it cannot disturb their behaviour.
"""

from __future__ import annotations

import sqlite3

from bot.store import checkpoint


def _ids(conn: sqlite3.Connection, sql: str, *args: object) -> list[tuple[int]]:
    return [(r[0],) for r in conn.execute(sql, args).fetchall()]


def purge_copies(conn: sqlite3.Connection, *, cutoff: float, messages_cutoff: float, incident_ids: list[int],
                 delete: bool) -> dict[str, int]:
    """Apply every rule above; returns how many rows each table lost or had blanked (for the report)."""
    done: dict[str, int] = {}

    alerts = _ids(conn, "SELECT id FROM alerts WHERE created_at < ? AND status != 'open'"
                        " AND (details != '' OR title != '' OR person IS NOT NULL OR ?)", cutoff, int(delete))
    conn.executemany("DELETE FROM alert_events WHERE alert_id=?", alerts)
    conn.executemany("DELETE FROM alert_recipients WHERE alert_id=?", alerts)
    conn.executemany("DELETE FROM alert_about WHERE alert_id=?", alerts)
    conn.executemany("DELETE FROM cards WHERE key='alert:' || ?", alerts)
    conn.executemany("DELETE FROM outbox WHERE alert_id=? AND status NOT IN ('pending', 'sending')", alerts)
    if delete:
        conn.executemany("DELETE FROM alerts WHERE id=?", alerts)
    else:
        conn.executemany("UPDATE alerts SET person=NULL, title='', details='', ack_reply=NULL, reply_chat=NULL,"
                         " acked_by=NULL, resolved_by=NULL WHERE id=?", alerts)
    done["alerts"] = len(alerts)

    sessions = _ids(conn, "SELECT id FROM lone_sessions WHERE started_at < ? AND status != 'live'"
                          " AND (note != '' OR person != '' OR ?)", cutoff, int(delete))
    conn.executemany("DELETE FROM lone_events WHERE session_id=?", sessions)
    conn.executemany("DELETE FROM lone_sessions WHERE id=?" if delete else
                     "UPDATE lone_sessions SET note='', person='', ended_by=NULL WHERE id=?", sessions)
    done["lone_sessions"] = len(sessions)

    backups = _ids(conn, "SELECT id FROM backup_requests WHERE created_at < ? AND status != 'open'"
                         " AND (what != '' OR person != '' OR ?)", cutoff, int(delete))
    conn.executemany("DELETE FROM backup_answers WHERE request_id=?", backups)
    conn.executemany("DELETE FROM cards WHERE key IN ('backup:' || ?, 'backup:' || ? || ':me')",
                     [(i, i) for (i,) in backups])
    conn.executemany("DELETE FROM backup_requests WHERE id=?" if delete else
                     "UPDATE backup_requests SET what='', person='', reply_chat=NULL WHERE id=?", backups)
    done["backup_requests"] = len(backups)

    lockdowns = _ids(conn, "SELECT id FROM lockdowns WHERE created_at < ? AND status != 'active'"
                           " AND (message != '' OR by != '' OR ?)", cutoff, int(delete))
    conn.executemany("DELETE FROM rollcall WHERE lockdown_id=?", lockdowns)
    conn.executemany("DELETE FROM cards WHERE key IN ('lockdown:' || ?, 'rollcall:' || ?)",
                     [(i, i) for (i,) in lockdowns])
    conn.executemany("DELETE FROM lockdowns WHERE id=?" if delete else
                     "UPDATE lockdowns SET message='', by='', ended_by=NULL WHERE id=?", lockdowns)
    done["lockdowns"] = len(lockdowns)

    conn.executemany("DELETE FROM cards WHERE key='welfare:' || ?", [(i,) for i in incident_ids])
    done["covers"] = conn.execute("DELETE FROM covers WHERE until < ?", (cutoff,)).rowcount
    done["invites"] = conn.execute("DELETE FROM invites WHERE expires_at < ?", (cutoff,)).rowcount
    done["roster_audit"] = conn.execute("DELETE FROM roster_audit WHERE at < ?", (cutoff,)).rowcount

    finished = "status NOT IN ('pending', 'sending')"
    done["outbox_deleted"] = conn.execute(f"DELETE FROM outbox WHERE created_at < ? AND {finished}"
                                          " AND id NOT IN (SELECT edit_of FROM outbox WHERE edit_of IS NOT NULL"
                                          " AND status IN ('pending', 'sending'))", (cutoff,)).rowcount
    done["outbox_blanked"] = conn.execute(
        f"UPDATE outbox SET text='', buttons='[]', attachment=NULL, form=NULL, error=NULL"
        f" WHERE created_at < ? AND {finished} AND (text != '' OR buttons != '[]' OR attachment IS NOT NULL)",
        (messages_cutoff,)).rowcount
    conn.execute("DELETE FROM inbound WHERE at < ?", (messages_cutoff,))
    return done


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
