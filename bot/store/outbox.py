"""Outbox rows: every outgoing message is a row before it is sent.

Claiming is a conditional UPDATE, so a row goes out once even with two workers.
Rows that belong to a live card render the card's latest text when delivered; a
copy delivered with an older version gets an edit queued straight after. Several
alarm cards sent as one digest message share a `digest` key; an edit of any of them
re-renders the whole digest.

A row is claimed (`sending`) when it is queued on a lane, but it is only *started*
(`sent_at` set, one attempt counted) at hand-off, just before its request goes to the
platform. A row started by a process that died is `in_doubt`: it may have arrived, so a
card sent again says it is a repeat. A row that only waited in a lane (for per-chat
pacing, or for its platform to connect) never left, and goes again unmarked.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from .. import digest as digests
from ..messages import Delivery, buttons_from_json
from . import after_commit, pg

REPEAT = ("REPEAT: sent again, so this may have reached you before. "
          "It is the same one as before, not a new one.\n")


@dataclass(frozen=True)
class Claimed:
    delivery: Delivery
    card: str | None
    card_version: int | None
    person: str | None
    alert_id: int | None
    attempts: int
    tag: str
    digest: str | None = None  # for edits of a digest message: its key
    started: bool = False  # its started mark was written with the row (a plain cover reply): the first hand-off writes none


INSERTED = ("kind", "person", "platform", "chat_id", "user_id", "text", "buttons", "priority", "card", "edit_of",
            "alert_id", "tag", "form", "form_ref", "ephemeral", "attachment", "next_at", "created_at", "status",
            "attempts", "sent_at")
INSERT = f"INSERT INTO outbox({', '.join(INSERTED)}) VALUES ({','.join('?' * len(INSERTED))})"
UNSET = {"card_version": None, "message_ref": None, "error": None, "digest": None, "in_doubt": 0}


class NewRow:
    """An outbox row as just written, known without reading it back: `INSERT ... RETURNING *` cost SQLite
    three times a plain insert (the lone-working bench writes ~3 a missed check-in) and PostgreSQL a wait.
    Its id is the insert's (read when first asked: PostgreSQL pipelines the insert). The columns it does not
    write are UNSET; tests/test_outbox_rows.py checks the row against the stored one, column by column."""

    __slots__ = ("_values", "_cursor", "started")

    def __init__(self, values: dict[str, Any], cursor: Any, started: bool = False):
        self._values = values | UNSET
        self._cursor = cursor
        self.started = started  # written already marked started (`enqueue`)

    def __getitem__(self, key: str) -> Any:
        return self._cursor.lastrowid if key == "id" else self._values[key]

    def keys(self) -> list[str]:
        return ["id", *self._values]


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
    started: bool = False,
) -> NewRow:
    """Insert a row; with claim=True it is claimed by the writer in the same transaction. started=True (claimed
    only): marked started too, as its hand-off would (`mark_started`), so the hand-off writes nothing: a cover
    reply, whose unit's commit is then the last write before it leaves (bot/unit.py, `Tx._enqueue`)."""
    started = started and claim
    values = dict(zip(INSERTED, (kind, person, platform, chat_id, user_id, text, buttons, priority, card, edit_of,
                                 alert_id, tag, form, form_ref, int(ephemeral), attachment, now, now,
                                 "sending" if claim else "pending", int(started), now if started else None),
                      strict=True))
    return NewRow(values, conn.execute(INSERT, tuple(values.values())), started)


def queue_edits(conn: sqlite3.Connection, card: str, now: float, claim: bool = False) -> list[sqlite3.Row]:
    """Queue one edit for each delivered copy of a card that has no edit waiting; returns the new rows."""
    # one edit per message: the copies in one digest share a message, and any pending edit of it
    # renders every member as it is now
    rows = conn.execute(
        "SELECT o.id, o.person, o.platform, o.chat_id, o.user_id, o.priority, o.alert_id FROM outbox o"
        " WHERE o.card=? AND o.kind='send' AND o.status='sent' AND NOT EXISTS"
        " (SELECT 1 FROM outbox e WHERE e.status='pending' AND e.kind='edit' AND (e.edit_of=o.id OR"
        " (o.digest IS NOT NULL AND e.edit_of IN (SELECT d.id FROM outbox d WHERE d.digest=o.digest))))",
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
        f"UPDATE outbox SET status='sending' WHERE status='pending' AND id IN ({select_ids})"
        " RETURNING *",
        args,
    ).fetchall()
    return as_claimed(conn, rows)


def needs_reading(rows: list[Any], cards: dict[str, tuple[int, str, str]]) -> bool:
    """Must `as_claimed` read the store for these rows: an edit (its original's message), or a card not drawn
    by the unit that wrote them?"""
    return any(r["kind"] != "send" or (r["card"] and r["card"] not in cards) for r in rows)


def as_claimed(conn: sqlite3.Connection | None, rows: list[sqlite3.Row],
               cards: dict[str, tuple[int, str, str]] | None = None) -> list[Claimed]:
    """What the lanes need to deliver claimed rows: card rows render the card as it is now.
    `cards`: key -> (version, text, buttons) of cards the same unit has just set, not read again."""
    claimed = []
    cards: dict[str, Any] = dict(cards or {})
    for r in sorted(rows, key=lambda r: (r["priority"], r["id"])):
        text, buttons, version = r["text"], buttons_from_json(r["buttons"]), None
        if r["card"]:
            if r["card"] not in cards:
                cards[r["card"]] = conn.execute("SELECT version, text, buttons FROM cards WHERE key=?",
                                                (r["card"],)).fetchone()
            card = cards[r["card"]]
            if card:
                version, text, buttons = card[0], card[1], buttons_from_json(card[2])
        message_ref, digest = None, None
        if r["kind"] == "edit":
            orig = conn.execute("SELECT message_ref, digest FROM outbox WHERE id=?", (r["edit_of"],)).fetchone()
            message_ref = orig["message_ref"] if orig else None
            digest = orig["digest"] if orig else None
            if digest:
                text, buttons = render_digest(conn, digest)
        elif r["in_doubt"] and r["card"]:
            text = REPEAT + text
        d = Delivery(id=r["id"], kind=r["kind"], platform=r["platform"], chat_id=r["chat_id"], user_id=r["user_id"],
                     text=text, buttons=buttons, priority=r["priority"], message_ref=message_ref, form=r["form"],
                     form_ref=r["form_ref"], ephemeral=bool(r["ephemeral"]), attachment=r["attachment"],
                     live=bool(r["card"]), in_doubt=bool(r["in_doubt"]))
        started = isinstance(r, NewRow) and r.started  # its attempt is counted already, with the mark
        claimed.append(Claimed(d, r["card"], version, r["person"], r["alert_id"], r["attempts"] - started, r["tag"],
                               digest, started))
    return claimed


def card_versions(conn: sqlite3.Connection, keys: set[str]) -> dict[str, int]:
    """The current version of each card, in one read (a batch of delivery results asks for many)."""
    if not keys:
        return {}
    return dict(conn.execute(f"SELECT key, version FROM cards WHERE key IN ({','.join('?' * len(keys))})",
                             tuple(keys)).fetchall())


def render_digest(conn: sqlite3.Connection, key: str) -> tuple[str, tuple]:
    """A digest message as it should look now: each member card's current text and buttons."""
    members = conn.execute(
        "SELECT o.alert_id, c.text, c.buttons FROM outbox o JOIN cards c ON c.key=o.card"
        " WHERE o.digest=? ORDER BY o.id", (key,)).fetchall()
    return digests.compose([(m["alert_id"], m["text"], buttons_from_json(m["buttons"])) for m in members])


def probe(conn: sqlite3.Connection, platform: str, now: float) -> int:
    """A platform is down: bring its most urgent waiting row forward, to learn at once when it is back."""
    return conn.execute(
        "UPDATE outbox SET next_at=? WHERE id=(SELECT id FROM outbox WHERE status='pending' AND platform=?"
        " ORDER BY priority, id LIMIT 1) AND next_at>?", (now, platform, now)).rowcount


def release_waiting(conn: sqlite3.Connection, platform: str, now: float) -> int:
    """A platform answered again: every row waiting out a failure's backoff is due now (rate-limit waits stay)."""
    return conn.execute(
        "UPDATE outbox SET next_at=? WHERE platform=? AND status='pending' AND next_at>? AND attempts>0"
        " AND (error IS NULL OR error NOT LIKE 'rate limited%')", (now, platform, now)).rowcount


def waiting_alarms(conn: sqlite3.Connection, platform: str) -> tuple[int, list[int]]:
    """How many alarm messages wait for a platform, and for which alerts."""
    rows = conn.execute("SELECT alert_id FROM outbox WHERE platform=? AND priority=0 AND status IN"
                        " ('pending','sending')", (platform,)).fetchall()
    return len(rows), sorted({r[0] for r in rows if r[0] is not None})


def mark_started(conn: sqlite3.Connection, ids: list[int], now: float) -> set[int]:
    """At hand-off, before the request: these rows may arrive from now on. Returns the ids still
    to send (a row cancelled meanwhile, e.g. by an ack, is not started)."""
    if not ids:
        return set()
    if isinstance(conn, pg.Connection):
        # the one commit that does not wait for PostgreSQL's WAL flush (up to 4-6 ms of every message's way out on a slow disk):
        # the rows themselves are durable already, and a later commit flushes this one with it. Lost only
        # if the database server crashes in those milliseconds: the row then goes again unmarked, not lost
        conn.raw("SET LOCAL synchronous_commit TO off")
    marks = ",".join("?" * len(ids))
    cur = conn.execute(f"UPDATE outbox SET sent_at=?, attempts=attempts+1 WHERE status='sending' AND id IN ({marks})"
                       " RETURNING id", (now, *ids))
    return after_commit(conn, lambda: {r[0] for r in cur.fetchall()})  # PostgreSQL: one wait with the COMMIT


def release_claims(conn: sqlite3.Connection) -> int:
    """At start-up: rows claimed by a process that died go back to the queue; those whose request had
    started are in doubt (they may have arrived), those that only waited in a lane are not."""
    return conn.execute("UPDATE outbox SET status='pending', sent_at=NULL,"
                        " in_doubt=CASE WHEN sent_at IS NOT NULL THEN 1 ELSE in_doubt END"
                        " WHERE status='sending'").rowcount


def cancel_rows(conn: sqlite3.Connection, ids: list[int]) -> None:
    """Withdraw rows written in this unit that will never be delivered (a reply shown on the board instead)."""
    conn.executemany("UPDATE outbox SET status='cancelled' WHERE id=?", [(i,) for i in ids])


def blank_delivered(conn: sqlite3.Connection, tag: str, text: str) -> None:
    """Replace the bodies of a tag's rows that are done with (a one-time sign-in link: no copy kept)."""
    conn.execute("UPDATE outbox SET text=? WHERE tag=? AND status IN ('sent', 'failed', 'cancelled') AND text<>?",
                 (text, tag, text))


def forget_sent_to(conn: sqlite3.Connection, platforms: tuple[str, ...], user_id: str, dry_run: bool) -> int:
    """Erase: delete the finished rows sent to one address on these platforms (a person's texts and calls);
    rows still queued stay, so an alarm in flight is not lost. Returns how many (would) go."""
    where = (f"platform IN ({','.join('?' * len(platforms))}) AND user_id=? AND status NOT IN ('pending', 'sending')")
    n = conn.execute(f"SELECT COUNT(*) FROM outbox WHERE {where}", (*platforms, user_id)).fetchone()[0]
    if n and not dry_run:
        conn.execute(f"DELETE FROM outbox WHERE {where}", (*platforms, user_id))
    return n


def cancel_for_alert(conn: sqlite3.Connection, alert_id: int, tag: str) -> list[int]:
    rows = conn.execute(
        "UPDATE outbox SET status='cancelled' WHERE alert_id=? AND tag=? AND status IN ('pending','sending')"
        " RETURNING id",
        (alert_id, tag),
    ).fetchall()
    return [r[0] for r in rows]
