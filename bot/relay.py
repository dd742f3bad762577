"""Webhooks that reach a standby (PostgreSQL, several instances behind one load balancer).

A load balancer that health-checks /healthz sends webhooks to the active instance only. In
the seconds after a failover, or with a balancer that does not check, an event can still
reach a standby. The standby then checks it exactly as the active instance would
(Telegram's secret token, Slack's signature), stores the raw request in `relay`, once per
platform event (a retry that reaches the other instance too is stored once), and answers
200 only after that commit: nothing is confirmed before it is stored. What the active
instance could not read is refused with 400 and never stored (a Slack body bolt cannot parse,
a Telegram update id that is not a whole number). The active instance takes relayed requests
every RELAY_POLL seconds and gives each to its own transport, which stores and handles it like
any other event (once per event id, bot/engine.py), then deletes the relay row. The signature
was checked once, by the standby, when the request came: a Slack request is signed afresh at
hand-off, so a row that waited longer than Slack's 5 minute window is still handled. A row
whose hand-off fails (not a store fault: those wait for the store) is tried MAX_TRIES times,
then set aside: kept in the table, the admins told, counted by `saferbot status`; it never
blocks the rows behind it. A standby opens no platform connection; this is its only way in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

RELAY_POLL = 0.5  # seconds between the active instance's looks at the relay table
MAX_TRIES = 3  # failed hand-offs before a row is set aside
SLACK_HEADERS = ("content-type", "x-slack-signature", "x-slack-request-timestamp", "x-slack-retry-num",
                 "x-slack-retry-reason")


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


# --- the standby side --------------------------------------------------------------------------------------
class StandbyRelay:
    """The webhook endpoints of a standby: check, store, then answer 200."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._runners: list[Any] = []
        self.ports: dict[str, int] = {}

    async def start(self) -> None:
        from aiohttp import web

        from . import listen
        from .transports.slack import HTTP_PATH

        s = self.settings
        sites = []
        if s.telegram_token and s.telegram_webhook_url and s.telegram_webhook_secret:
            path = urlsplit(s.telegram_webhook_url).path or "/"
            sites.append(("telegram", web.post(path, self._telegram), s.host_for(s.telegram_webhook_listen),
                          s.telegram_webhook_port))
        if s.slack_bot_token and s.slack_signing_secret and not s.slack_app_token:  # HTTP mode, as the transport
            sites.append(("slack", web.post(HTTP_PATH, self._slack), s.host_for(s.slack_http_listen),
                          s.slack_http_port))
        for platform, route, host, port in sites:
            app = web.Application()
            app.add_routes([route])
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = listen.Site(runner, host, port, limits=listen.Limits.of(s))
            try:
                await site.start()
            except OSError as e:  # the active instance on this same machine has the port
                log.warning("standby: not relaying %s webhooks on port %s (%s)", platform, port, e.strerror)
                await runner.cleanup()
                continue
            self._runners.append(runner)
            self.ports[platform] = site.port
            log.info("standby: %s webhooks that reach this instance are stored for the active one", platform)

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self._conn is not None:
            await asyncio.to_thread(self._conn.close)
            self._conn = None

    async def _store(self, key: str, platform: str, body: str, headers: dict[str, str]) -> bool:
        from .store import StoreError, pg

        async with self._lock:
            try:
                if self._conn is None or self._conn.broken:
                    self._conn = await asyncio.to_thread(pg.Connection, self.settings.db)
                await asyncio.to_thread(put, self._conn, key, platform, body, headers, time.time())
                return True
            except StoreError as e:
                log.warning("standby: a %s webhook was not stored (%s); answering 500 so it comes again",
                            platform, type(e).__name__)
                return False

    async def _telegram(self, request) -> Any:
        from aiohttp import web

        from .transports.telegram_intake import SECRET_HEADER

        secret = self.settings.telegram_webhook_secret
        given = request.headers.get(SECRET_HEADER, "").encode()
        if secret is None or not hmac.compare_digest(given, secret.get_secret_value().encode()):
            return web.Response(status=403)
        body = await request.text()
        try:
            update_id = json.loads(body)["update_id"]
        except (ValueError, KeyError, TypeError, IndexError):
            return web.Response(status=400)
        if type(update_id) is not int:  # Infinity, 1e400, NaN, 1.5, true: not an update the active could read
            return web.Response(status=400)
        ok = await self._store(f"telegram:{update_id}", "telegram", body, {})
        return web.Response(status=200 if ok else 500)

    async def _slack(self, request) -> Any:
        from aiohttp import web
        from slack_bolt.request.internals import parse_body
        from slack_sdk.signature import SignatureVerifier

        body = await request.text()
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() in SLACK_HEADERS}
        secret = self.settings.slack_signing_secret
        if secret is None or not SignatureVerifier(secret.get_secret_value()).is_valid_request(body, headers):
            return web.Response(status=401)
        try:  # parsed as bolt will parse it at the active instance: what it cannot read is refused, not stored
            payload = parse_body(body, headers.get("content-type"))
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not (payload.get("type") or payload.get("command")):
            return web.Response(status=400)  # neither an event, an interaction nor a slash command
        if payload.get("type") == "url_verification":  # Slack checking the URL: nothing to store
            return web.json_response({"challenge": payload.get("challenge")})
        if payload.get("type") == "view_submission":
            # a submitted form waits for its answer (the form's own errors, shown in it): only the active
            # instance can give that. Not stored; Slack keeps the form open with an error, and sending it
            # again reaches the active instance.
            return web.Response(status=503)
        ok = await self._store(slack_key(body), "slack", body, headers)
        return web.Response(status=200 if ok else 500)
