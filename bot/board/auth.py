"""Signing in to the board: one-time links made in chat, then a signed session cookie.

A link's token is random and only its SHA-256 is stored: whoever reads the database cannot
sign in with it. It works once, for ten minutes, for the person and role it was made for.
The session cookie is signed with a key kept in the store (every instance on the store
accepts it, so a takeover does not sign anyone out) and is checked against the roster on
every request: leaving the roster or the role ends it. CSRF tokens are derived from the
session, so a form from another site cannot act. No aiohttp here: the chat command uses it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from ..model import Person
from ..permissions import allowed
from ..personal_data import Done, Found, Holding, Owner, Subject
from ..store import outbox

LINK_VALID = 600  # seconds a sign-in link works
SESSION_MAX = 12 * 3600  # a session lasts at most a working day
PERMISSION = "list_alerts"  # duty managers and admins (bot/permissions.py)


def may_use(person: Person | None) -> bool:
    """Duty managers and admins; never volunteers or staff."""
    return allowed(person, PERMISSION)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TAG = "board-link"  # the outbox tag of the message carrying a link: its body is blanked once it is delivered
SENT = "(a one-time sign-in link to the board)"


def create_link(conn, person: Person, now: float) -> str:
    """A fresh token for `person` (store only its hash); the caller puts it in the link."""
    outbox.blank_delivered(conn, TAG, SENT)
    token = secrets.token_urlsafe(32)
    conn.execute("INSERT INTO board_links(token_hash, person, role, created_at, expires_at) VALUES(?,?,?,?,?)",
                 (_hash(token), person.key, person.role.value, now, now + LINK_VALID))
    conn.execute("DELETE FROM board_links WHERE expires_at<?", (now - 86400,))  # old links are not kept
    return token


def redeem(conn, token: str, now: float) -> tuple[str, str] | None:
    """(person, role) of an unused, unexpired link, now used up; None otherwise."""
    if not token or len(token) > 100:
        return None
    row = conn.execute("UPDATE board_links SET used_at=? WHERE token_hash=? AND used_at IS NULL AND expires_at>?"
                       " RETURNING person, role", (now, _hash(token), now)).fetchone()
    outbox.blank_delivered(conn, TAG, SENT)  # the message that carried it keeps no copy of a token
    return (row[0], row[1]) if row else None


def secret(conn) -> bytes:
    """The key that signs session cookies (made once, shared by every instance on this store)."""
    conn.execute("INSERT INTO board_key(id, secret) VALUES(1, ?) ON CONFLICT(id) DO NOTHING",
                 (secrets.token_hex(32),))
    return bytes.fromhex(conn.execute("SELECT secret FROM board_key WHERE id=1").fetchone()[0])


def stored_key(settings) -> bytes | None:
    """The cookie key as the store has it, read only (a standby: it must not write), or None."""
    from ..store import StoreError, columns, open_read_only

    try:
        conn = open_read_only(settings.db)
        if conn is None:
            return None
        try:
            if not columns(conn, "board_key"):
                return None
            row = conn.execute("SELECT secret FROM board_key WHERE id=1").fetchone()
            return bytes.fromhex(row[0]) if row else None
        finally:
            conn.close()
    except (*StoreError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Session:
    person: str
    role: str
    issued: float
    expires: float


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def sign(key: bytes, s: Session) -> str:
    body = base64.urlsafe_b64encode(json.dumps([s.person, s.role, s.issued, s.expires]).encode()).decode()
    return f"{body}.{_mac(key, body.encode())}"


def verify(key: bytes, value: str | None, now: float) -> Session | None:
    """The session in a cookie, if its signature holds and it has not expired."""
    if not value or "." not in value or len(value) > 2000:
        return None
    body, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac, _mac(key, body.encode())):
        return None
    try:
        person, role, issued, expires = json.loads(base64.urlsafe_b64decode(body.encode()))
    except (ValueError, TypeError):
        return None
    s = Session(str(person), str(role), float(issued), float(expires))
    return s if s.issued <= now + 60 and now < s.expires else None


def still_valid(s: Session, person: Person | None) -> bool:
    """The session's person is on the roster with the role the link was made for, and may use the board."""
    return person is not None and person.role.value == s.role and may_use(person)


def csrf(key: bytes, cookie: str) -> str:
    """The CSRF token of one session: every POST must carry it."""
    return _mac(key, b"csrf:" + cookie.encode())[:40]


def csrf_ok(key: bytes, cookie: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf(key, cookie), given or "")


# --- personal data (bot/personal_data.py): a link names the person it signs in ------------------
def _about(conn, subject: Subject) -> list[Found]:
    rows = conn.execute("SELECT role, created_at, expires_at, used_at FROM board_links WHERE person=? ORDER BY"
                        " created_at", (subject.key,)).fetchall() if subject.key else []
    return [Found("Sign-in links to the duty board", RETENTION, [dict(r) for r in rows])] if rows else []


def _forget(conn, subject: Subject, dry_run: bool) -> Done:
    n = conn.execute("SELECT COUNT(*) FROM board_links WHERE person=?", (subject.key,)).fetchone()[0] \
        if subject.key else 0
    if n and not dry_run:
        conn.execute("DELETE FROM board_links WHERE person=?", (subject.key,))
    return Done(changed=[f"board_links: deleted {n} sign-in link(s)"] if n else [])


def _purge(conn, now: float, dry_run: bool) -> Done:
    n = conn.execute("SELECT COUNT(*) FROM board_links WHERE expires_at<?", (now - 86400,)).fetchone()[0]
    if n and not dry_run:
        conn.execute("DELETE FROM board_links WHERE expires_at<?", (now - 86400,))
    return Done(changed=[f"board_links: deleted {n} expired sign-in link(s)"] if n else [])


RETENTION = "a day after the link expires"
OWNER = Owner("board", (Holding("board_links", person_columns=("person",), retention=RETENTION,
                                why="signing a duty manager in to the board"),
                        Holding("board_key", retention="-", why="no personal data (the key that signs session cookies)")),
              _about, _forget, _purge)
