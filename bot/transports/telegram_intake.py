"""How Telegram updates come in without being confirmed before they are stored.

Telegram forgets an update once told it arrived: for getUpdates, when a later call
carries an offset beyond it; for a webhook, when the POST is answered 2xx. PTB's
Updater does both as soon as an update is queued, before the engine has stored it, so
a crash in between lost the update for good. Here the offset moves past an update only
after `engine.receive` returned for it (and for every update before it), and the
webhook answers 200 only then; a failure leaves it unconfirmed and Telegram sends it
again. Repeats are harmless: the engine records each update id once.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
from typing import Any, Protocol

from aiohttp import web
from telegram import Update
from telegram.error import InvalidToken, TelegramError
from telegram.error import RetryAfter as TgRetryAfter

from .. import listen
from ..settings import Settings

REFUSED = ("Telegram refused SAFERBOT_TELEGRAM_TOKEN. Fix: copy the bot's token again from @BotFather "
           "(/mybots -> API Token) into SAFERBOT_TELEGRAM_TOKEN.")

log = logging.getLogger("bot.transports.telegram")

ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_MAX = 30.0  # seconds: the longest wait before asking Telegram again after a failure
NOT_STORED_RETRY = 2.0  # seconds: the longest wait while updates cannot be stored (new codewords still answered)


def _backoff(failures: int) -> float:
    return min(RETRY_MAX, 0.25 * 2 ** min(failures, 8))


class Host(Protocol):
    """What the intake needs of the transport it is mixed into (it never imports telegram.py: no circle)."""

    settings: Settings
    app: Any  # telegram.ext.Application
    poll_timeout: float
    webhook_port: int | None
    _offset: int | None
    _confirmed: int | None
    _socket: socket.socket | None
    _webhook: web.AppRunner | None

    def give_up(self, why: str) -> None: ...
    async def _on_update(self, update: Update) -> None: ...
    async def _take(self, updates: list[Update]) -> int: ...
    async def _on_webhook(self, request: web.Request) -> web.Response: ...


class TelegramIntake:
    """Mixin for TelegramTransport: the getUpdates loop and the webhook endpoint."""

    async def _poll(self: Host) -> None:
        """Long-poll getUpdates; the offset moves past an update only once the store has it."""
        failures = 0
        while True:
            try:
                updates = await self.app.bot.get_updates(offset=self._offset, timeout=int(max(1, self.poll_timeout)),
                                                         allowed_updates=ALLOWED_UPDATES)
                self._confirmed = self._offset
            except InvalidToken:
                self.give_up(REFUSED)
                return
            except TgRetryAfter as e:
                await asyncio.sleep(e.retry_after if isinstance(e.retry_after, (int, float))
                                    else e.retry_after.total_seconds())
                continue
            except Exception as e:  # network trouble, a timeout, a 5xx, a webhook/second poller (409), a bad answer
                failures += 1
                wait = _backoff(failures)
                log.warning("Telegram getUpdates failed (%s); trying again in %.1f s", e, wait,
                            exc_info=not isinstance(e, TelegramError))
                await asyncio.sleep(wait)
                continue
            stored = await self._take(updates)
            if stored:
                self._offset = updates[stored - 1].update_id + 1
            if stored < len(updates):  # not stored: ask for it again (unconfirmed, Telegram still has it)
                failures += 1
                # answered without the store meanwhile (bot/emergency.py): look again soon for new ones
                await asyncio.sleep(min(_backoff(failures), NOT_STORED_RETRY))
            else:
                failures = 0

    async def _take(self: Host, updates: list[Update]) -> int:
        """Store a batch in order, one update after another (as PTB did); how many were stored.

        The first that could not be stored and those after it stay unconfirmed; those after it are
        still handed over, so each codeword is answered even while the store fails.
        (Handing a burst to the engine all at once would share one commit, but delays the
        first reply behind the whole burst; one codeword's latency is the same either way.)
        """
        stored = None
        for i, update in enumerate(updates):
            try:
                await self._on_update(update)
            except Exception as e:
                log.warning("Telegram update %s not stored (%s); it stays unconfirmed and comes again",
                            update.update_id, e or type(e).__name__)
                # the ones after it are still handed over (while the store fails, each is answered
                # without it, bot/emergency.py), but none is confirmed past the first one not stored
                stored = i if stored is None else stored
        return len(updates) if stored is None else stored

    async def _serve_webhook(self: Host, path: str) -> None:
        """Listen for Telegram's webhook POSTs (once); the socket is bound here so port 0 works."""
        if self._webhook is not None:
            return
        s = self.settings
        if self._socket is None:
            self._socket = socket.create_server((s.host_for(s.telegram_webhook_listen), s.telegram_webhook_port))
            self._socket.setblocking(False)
            self.webhook_port = self._socket.getsockname()[1]
        app = web.Application()
        app.add_routes([web.post(path, self._on_webhook)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await listen.Site(runner, sock=self._socket, limits=listen.Limits.of(s)).start()
        self._webhook = runner

    async def _on_webhook(self: Host, request: web.Request) -> web.Response:
        """200 only once the update is stored; 500 if storing failed, so Telegram sends it again."""
        assert self.settings.telegram_webhook_secret is not None
        secret = self.settings.telegram_webhook_secret.get_secret_value()
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret.encode()):
            return web.Response(status=403)
        try:
            data = await request.json()
            if type(data["update_id"]) is not int:  # Infinity, 1e400, NaN: not an update
                return web.Response(status=400)
            update = Update.de_json(data, self.app.bot)
        except Exception:
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        try:
            await self._on_update(update)
        except Exception as e:
            log.warning("Telegram update %s not stored (%s); answering 500 so it comes again",
                        update.update_id, e or type(e).__name__)
            return web.Response(status=500)
        return web.Response()

    async def _relayed(self: Host, body: str, headers: dict[str, str]) -> bool:
        """An update a standby stored (bot/relay.py): stored and handled here; False if the store could not
        keep it (tried again); raises if it cannot be read or handled (set aside after a few tries)."""
        from ..engine import NotStored

        update = Update.de_json(json.loads(body), self.app.bot)
        if update is None:
            return True
        try:
            await self._on_update(update)
        except NotStored as e:
            log.warning("relayed Telegram update %s not stored (%s); it is tried again", update.update_id, e)
            return False
        return True
