"""The relay table and the active instance's side of it: what a standby stored (bot/relay.py), taken by
the active instance's transports and handled like any other event.

Below the transports on purpose (tests/test_layers.py): a transport drains this queue and signs a
relayed Slack request afresh, so it imports this module; the standby's endpoints (bot/relay.py, the
runtime) import the transports' paths and headers, never the reverse.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("bot.relay")

RELAY_POLL = 0.5  # seconds between the active instance's looks at the relay table
MAX_TRIES = 3  # failed hand-offs before a row is set aside


# --- the table (one owner: this module) ---------------------------------------------------------------------
def put(conn: Any, key: str, platform: str, body: str, headers: dict[str, str], now: float) -> None:
    conn.execute("INSERT INTO relay(key, platform, body, headers, at) VALUES(?,?,?,?,?) ON CONFLICT DO NOTHING",
                 (key, platform, body, json.dumps(headers), now))


def waiting(conn: Any, platform: str, limit: int = 50) -> list[tuple[int, str, dict[str, str]]]:
    rows = conn.execute("SELECT id, body, headers FROM relay WHERE platform=? AND aside_at IS NULL ORDER BY id"
                        " LIMIT ?", (platform, limit)).fetchall()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def done(conn: Any, relay_id: int) -> None:
    conn.execute("DELETE FROM relay WHERE id=?", (relay_id,))


def failed(conn: Any, relay_id: int, error: str, now: float) -> bool:
    """One more failed hand-off; True if the row is now set aside."""
    row = conn.execute("UPDATE relay SET tries=tries+1, error=? WHERE id=? RETURNING tries",
                       (error[:500], relay_id)).fetchone()
    if row is None or row[0] < MAX_TRIES:
        return False
    conn.execute("UPDATE relay SET aside_at=? WHERE id=?", (now, relay_id))
    return True


def set_aside(conn: Any) -> list[tuple[str, int]]:
    """(platform, rows set aside) for `saferbot status`."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT platform, COUNT(*) FROM relay WHERE aside_at IS NOT NULL GROUP BY platform ORDER BY platform")]


def tell_admins(tx: Any, text: str) -> None:
    """A unit of work (engine.perform): every admin gets `text`."""
    from .messages import Outbound
    from .model import Role

    for person in tx.directory.people.values():
        if person.role == Role.admin:
            tx.send(person, Outbound(text), tag="relay")


def slack_resigned(body: str, headers: dict[str, str], secret: str) -> dict[str, str]:
    """The headers of a relayed Slack request, signed now: the standby checked the original signature."""
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {**headers, "x-slack-request-timestamp": ts, "x-slack-signature": f"v0={digest}"}


def slack_key(body: str) -> str:
    """An Events API event by its event id; a press, command or form by its exact signed body."""
    try:
        event_id = json.loads(body).get("event_id")
    except (ValueError, AttributeError):
        event_id = None
    return f"slack:{event_id or hashlib.sha256(body.encode()).hexdigest()[:32]}"


# --- the active side ---------------------------------------------------------------------------------------
async def drain(store: Any, platform: str, take: Callable[[str, dict[str, str]], Awaitable[bool]],
                tell: Callable[[str], Awaitable[Any]] | None = None) -> None:
    """Active instance: hand every relayed request to `take`, for as long as it runs.

    `take` returns True once the request is stored and handled, False if the store could not
    keep it (the row stays and is tried again, uncounted), and raises if handling it failed:
    counted, and after MAX_TRIES set aside, with `tell` (the admins) told once.
    """
    while True:
        try:
            for relay_id, body, headers in await store.read(waiting, platform):
                try:
                    handled = await take(body, headers)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    error = f"{type(e).__name__}: {e}"
                    log.warning("handing over relayed %s request %s failed (%s)", platform, relay_id, error)
                    if await store.run(failed, relay_id, error, time.time()):
                        text = (f"A {platform} request that reached the standby could not be handled after "
                                f"{MAX_TRIES} tries ({error[:200]}) and was set aside (relay row {relay_id}). "
                                f"Later requests are handled as usual. Run saferbot status for the count.")
                        log.error("%s", text)
                        if tell is not None:
                            await tell(text)
                    continue  # never blocks the rows behind it
                if not handled:
                    break  # not stored (the store is failing): it stays, and is tried again
                await store.run(done, relay_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("taking relayed %s webhooks failed; trying again", platform)
        await asyncio.sleep(RELAY_POLL)
