"""registration: an admin invites a rostered person; the person taps the link and is bound.

`invite alice` (admins, in a private chat) or `saferbot invite alice` gives a
`t.me/<bot>?start=<code>` link. Tapping it sends `/start <code>`; a good code binds
that chat account to the person. Codes work once and expire. A reused, expired or
unknown code gets the same neutral reply as any stranger, so the bot tells an
outsider nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from typing import Any

from bot.directory import Directory
from bot.messages import Inbound, Outbound
from bot.model import Person, parse_duration
from bot.registry import command, platform_values, public
from bot.router import NEUTRAL
from bot.unit import Tx

BINDABLE = ("telegram", "slack")
USERNAME_KEY = "telegram.username"  # written by the Telegram transport at start
DEFAULT_VALID_FOR = 7 * 24 * 3600


def accounts_of(conn: sqlite3.Connection, key: str) -> tuple[tuple[str, str], ...]:
    """(platform, user id) of the chat accounts bound to a roster key: erase and subject access find the
    messages sent to them (bot/core_data.py asks through the Subject, not this table)."""
    return tuple(sorted((r[0], str(r[1])) for r in conn.execute(
        "SELECT platform, user_id FROM bindings WHERE person=?", (key,)).fetchall()))


def bind_accounts(directory: Directory, conn: sqlite3.Connection) -> None:
    """The chat accounts people bound with an invite (table `bindings`), into a directory."""
    for person, platform, user_id in conn.execute("SELECT person, platform, user_id FROM bindings").fetchall():
        if directory.person(person):
            directory.bind(person, platform, user_id)


async def load_bindings(engine: Any) -> None:
    """Start-up, last in the App's list (bot/compose.py): after roster edits, so people they added bind too,
    and before any overdue wake-up fires or any platform event arrives."""
    await engine.store.read(lambda conn: bind_accounts(engine.directory, conn))


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def valid_for(settings: object) -> int:
    try:
        return parse_duration(getattr(settings, "invite_valid_for", None) or DEFAULT_VALID_FOR)
    except ValueError:
        return DEFAULT_VALID_FOR


def create_invite(conn: sqlite3.Connection, person: str, *, created_by: str, now: float, valid_for: int,
                  platform: str = "telegram") -> tuple[str, float]:
    """A new single-use code for `person` (any older open invite of theirs stops working)."""
    conn.execute("UPDATE invites SET status='replaced' WHERE person=? AND platform=? AND status='open'",
                 (person, platform))
    code = secrets.token_urlsafe(16)  # 22 characters of A-Z a-z 0-9 _ -: fits Telegram's start parameter
    expires = now + valid_for
    conn.execute("INSERT INTO invites(code_hash, person, platform, created_by, created_at, expires_at)"
                 " VALUES(?,?,?,?,?,?)", (_hash(code), person, platform, created_by, now, expires))
    return code, expires


@platform_values
def keep_platform_value(conn: sqlite3.Connection, key: str, value: str, now: float) -> None:
    conn.execute("INSERT INTO platform_info(key, value, updated_at) VALUES(?,?,?) ON CONFLICT(key)"
                 " DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at", (key, value, now))


def bot_username(conn: sqlite3.Connection, fallback: str | None) -> str | None:
    row = conn.execute("SELECT value FROM platform_info WHERE key=?", (USERNAME_KEY,)).fetchone()
    name = row[0] if row else fallback
    return name.lstrip("@") if name else None


def invite_link(username: str | None, code: str) -> str:
    if username:
        return f"https://t.me/{username}?start={code}"
    return f"/start {code}"


def find_person(people: dict[str, Person], text: str) -> Person | None:
    """By key (alice) or by full name (Alice Smith), case-insensitive."""
    wanted = text.strip().lstrip("@").lower()
    if not wanted:
        return None
    if wanted in people:
        return people[wanted]
    named = [p for p in people.values() if p.name.lower() == wanted]
    return named[0] if len(named) == 1 else None


@command("invite", permission="invite", help="a registration link for a rostered person", usage="invite <person>")
def invite(tx: Tx, person: Person, msg: Inbound, args: str) -> None:
    if msg.is_group:
        tx.reply(msg, Outbound("Ask me for invites in a private chat: anyone who sees a link can use it."),
                 person=person)
        return
    target = find_person(tx.directory.people, args)
    if target is None:
        tx.reply(msg, Outbound("Who should I invite? Use their roster name, e.g. invite alice"), person=person)
        return
    code, expires = create_invite(tx.conn, target.key, created_by=person.key, now=tx.now,
                                  valid_for=valid_for(tx.ctx.settings))
    link = invite_link(bot_username(tx.conn, getattr(tx.ctx.settings, "telegram_bot_username", None)), code)
    tx.reply(msg, Outbound(f"Registration link for {target.name}:\n{link}\n"
                           f"Send it to them privately. It works once, until {tx.ctx.clock.stamp(expires)}."),
             person=person)


@public("start")
def start(tx: Tx, msg: Inbound, args: str) -> None:
    """`/start <code>` from someone the bot does not know yet."""
    code = args.strip().split(" ", 1)[0]
    key = _redeem(tx, msg, code) if code and not msg.is_group and msg.platform in BINDABLE else None
    person = tx.person(key)
    if person is None:
        if not msg.is_group:
            tx.reply(msg, Outbound(NEUTRAL, ephemeral=True))
        return
    tx.conn.execute("DELETE FROM bindings WHERE person=? AND platform=?", (person.key, msg.platform))
    tx.conn.execute("INSERT INTO bindings(person, platform, user_id) VALUES(?,?,?)"
                    " ON CONFLICT(platform, user_id) DO UPDATE SET person=excluded.person",
                    (person.key, msg.platform, msg.user_id))
    bound = tx.directory.with_account(person.key, msg.platform, msg.user_id)
    # in memory only after the commit; put() re-indexes: an older account of theirs on this platform is forgotten
    tx.then(lambda: tx.directory.put(tx.directory.bind(person.key, msg.platform, msg.user_id)))
    branch = tx.directory.branch_name(bound.branch)
    tx.reply(msg, Outbound(f"Welcome, {bound.name}. You are now registered with the safety bot for {branch}.\n"
                           "Send help to see what you can do here."), person=bound)
    row = tx.conn.execute("SELECT created_by FROM invites WHERE code_hash=?", (_hash(code),)).fetchone()
    admin = tx.person(row[0]) if row else None
    if admin and admin.key != bound.key:
        tx.send(admin, Outbound(f"{bound.name} has registered on {msg.platform.capitalize()}."))


def _redeem(tx: Tx, msg: Inbound, code: str) -> str | None:
    """Use the code once; the person's key, or None for an unknown, used, replaced or expired code."""
    row = tx.conn.execute(
        "UPDATE invites SET status='used', used_at=?, used_by=? WHERE code_hash=? AND status='open'"
        " AND expires_at>? AND platform=? RETURNING person", (tx.now, msg.user_id, _hash(code), tx.now, msg.platform)
    ).fetchone()
    return row[0] if row else None
