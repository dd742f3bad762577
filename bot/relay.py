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
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .relay_queue import put, slack_key

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

SLACK_HEADERS = ("content-type", "x-slack-signature", "x-slack-request-timestamp", "x-slack-retry-num",
                 "x-slack-retry-reason")


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
