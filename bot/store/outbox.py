"""Outbox rows: every outgoing message is a row before it is sent.

Claiming is a conditional UPDATE, so a row goes out once even with two workers.
Rows that belong to a live card render the card's latest text when delivered; a
copy delivered with an older version gets an edit queued straight after.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..messages import Delivery, buttons_from_json


@dataclass(frozen=True)
class Claimed:
    delivery: Delivery
    card: str | None
    card_version: int | None
    person: str | None
    alert_id: int | None
    attempts: int
    tag: str


def enqueue(
    conn: sqlite3.Connection,
    *,
    now: float,
    platform: str,
    chat_id: str,
    user_id: str,
    text: str,
    buttons: str,
    priority: int,
    person: str | None = None,
    card: str | None = None,
    alert_id: int | None = None,
    tag: str = "",
    form: str | None = None,
    form_ref: str = "",
    ephemeral: bool = False,
    attachment: str | None = None,
    kind: str = "send",
    edit_of: int | None = None,
    claim: bool = False,
) -> sqlite3.Row:
    """Insert a row; with claim=True it is claimed by the writer in the same transaction."""
    return conn.execute(
        "INSERT INTO outbox(kind, person, platform, chat_id, user_id, text, buttons, priority, card, edit_of,"
        " alert_id, tag, form, form_ref, ephemeral, attachment, next_at, created_at, status, attempts)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *",
        (kind, person, platform, chat_id, user_id, text, buttons, priority, card, edit_of, alert_id, tag,
         form, form_ref, int(ephemeral), attachment, now, now, "sending" if claim else "pending", int(claim)),
    ).fetchone()


def queue_edits(conn: sqlite3.Connection, card: str, now: float, claim: bool = False) -> list[sqlite3.Row]:
    """Queue one edit for each delivered copy of a card that has no edit waiting; returns the new rows."""
    rows = conn.execute(
        "SELECT o.id, o.person, o.platform, o.chat_id, o.user_id, o.priority, o.alert_id FROM outbox o"
        " WHERE o.card=? AND o.kind='send' AND o.status='sent' AND NOT EXISTS"
        " (SELECT 1 FROM outbox e WHERE e.edit_of=o.id AND e.status='pending')",
        (card,),
    ).fetchall()
    return [enqueue(conn, now=now, kind="edit", edit_of=r["id"], person=r["person"], platform=r["platform"],
                    chat_id=r["chat_id"], user_id=r["user_id"], text="", buttons="[]", priority=r["priority"],
                    card=card, alert_id=r["alert_id"], tag="edit", claim=claim) for r in rows]


def claim_due(conn: sqlite3.Connection, now: float, limit: int) -> tuple[list[Claimed], float | None]:
    """Claim up to `limit` due rows (alarms first) and say when the next one falls due."""
    claimed = _claim(conn, "SELECT id FROM outbox WHERE status='pending' AND next_at<=? ORDER BY priority, id"
                     " LIMIT ?", (now, limit))
    nxt = conn.execute("SELECT MIN(next_at) FROM outbox WHERE status='pending'").fetchone()[0]
    return claimed, nxt


def _claim(conn: sqlite3.Connection, select_ids: str, args: tuple) -> list[Claimed]:
    rows = conn.execute(
        f"UPDATE outbox SET status='sending', attempts=attempts+1 WHERE status='pending' AND id IN ({select_ids})"
        " RETURNING *",
        args,
    ).fetchall()
    return as_claimed(conn, rows)


def as_claimed(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Claimed]:
    """What the lanes need to deliver claimed rows: card rows render the card as it is now."""
    claimed = []
    cards: dict[str, sqlite3.Row | None] = {}
    for r in sorted(rows, key=lambda r: (r["priority"], r["id"])):
        text, buttons, version = r["text"], buttons_from_json(r["buttons"]), None
        if r["card"]:
            if r["card"] not in cards:
                cards[r["card"]] = conn.execute("SELECT version, text, buttons FROM cards WHERE key=?",
                                                (r["card"],)).fetchone()
            card = cards[r["card"]]
            if card:
                text, buttons, version = card["text"], buttons_from_json(card["buttons"]), card["version"]
        message_ref = None
        if r["kind"] == "edit":
            orig = conn.execute("SELECT message_ref FROM outbox WHERE id=?", (r["edit_of"],)).fetchone()
            message_ref = orig["message_ref"] if orig else None
        d = Delivery(id=r["id"], kind=r["kind"], platform=r["platform"], chat_id=r["chat_id"], user_id=r["user_id"],
                     text=text, buttons=buttons, priority=r["priority"], message_ref=message_ref, form=r["form"],
                     form_ref=r["form_ref"], ephemeral=bool(r["ephemeral"]), attachment=r["attachment"])
        claimed.append(Claimed(d, r["card"], version, r["person"], r["alert_id"], r["attempts"], r["tag"]))
    return claimed


def release_claims(conn: sqlite3.Connection) -> int:
    """At start-up: rows claimed by a process that died go back to the queue."""
    return conn.execute("UPDATE outbox SET status='pending' WHERE status='sending'").rowcount


def cancel_for_alert(conn: sqlite3.Connection, alert_id: int, tag: str) -> list[int]:
    rows = conn.execute(
        "UPDATE outbox SET status='cancelled' WHERE alert_id=? AND tag=? AND status IN ('pending','sending')"
        " RETURNING id",
        (alert_id, tag),
    ).fetchall()
    return [r[0] for r in rows]
