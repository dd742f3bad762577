"""The Telegram transport (python-telegram-bot): long polling by default, a webhook when configured.

Inbound: messages and button presses become `Inbound` and go to `engine.receive`; a
button press is answered at once so the phone stops spinning. An update is confirmed
to Telegram only after the store has recorded it: our own polling loop on
`getUpdates` moves the offset past an update once `engine.receive` has returned (PTB's
Updater confirms as soon as it has queued one, so a crash there lost the update), and
the webhook answers 200 only then (non-2xx if storing failed, so Telegram sends it
again). A repeat is dropped by the engine's intake dedupe (the update id). Outbound: the outbox
hands us one `Delivery` at a time, already paced and prioritised. We only translate
Telegram's answers into what the outbox understands: `RetryAfter` for 429,
`Undeliverable` for a blocked bot or a chat that does not exist, any other error for
a passing fault (the outbox retries with backoff). PTB's own rate limiter and retries
stay off so they never fight the outbox.

Every text is plain and is HTML-escaped here, so nothing a person types can become
markup, a link or a mention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

os.environ.setdefault("PTB_TIMEDELTA", "1")  # PTB's time periods as timedelta (no deprecation warnings)

from telegram import (  # noqa: E402
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode  # noqa: E402
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, TelegramError, TimedOut  # noqa: E402
from telegram.error import RetryAfter as TgRetryAfter  # noqa: E402
from telegram.ext import Application  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from .. import relay_queue as relay  # noqa: E402
from ..messages import Button, Delivery, Inbound  # noqa: E402
from ..model import Person  # noqa: E402
from ..settings import Settings  # noqa: E402
from . import gate  # noqa: E402
from .base import Limits, MaybeDelivered, RetryAfter, Transport, Undeliverable  # noqa: E402
from .telegram_intake import ALLOWED_UPDATES, REFUSED, TelegramIntake  # noqa: E402
from .telegram_text import MAX_CAPTION, MAX_TEXT, chunks, escape, parts  # noqa: E402

if TYPE_CHECKING:
    from ..engine import Engine

log = logging.getLogger(__name__)

GROUP_INTERVAL = 3.0  # seconds between two messages to one group (20 a minute)
USERNAME_KEY = "telegram.username"  # kept by the registration capability (engine.remember)

# BadRequest descriptions that mean the address is gone for good
_GONE = ("chat not found", "user not found", "peer_id_invalid", "bot was kicked", "have no rights to send",
         "not enough rights", "user is deactivated", "chat_write_forbidden", "group chat was upgraded",
         "need administrator rights")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # a link someone typed never unfurls in an alert
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One button per row: big targets for a hurried thumb."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data)] for b in buttons])


class TelegramTransport(TelegramIntake, Transport):
    platform = "telegram"
    # the Bot API FAQ: about one message a second to a chat, "short bursts" tolerated (two, to be safe)
    limits = Limits(per_second=30, per_chat_interval=1.0, per_chat_burst=2)

    def __init__(self, settings: Settings, *, poll_timeout: float = 30.0, request_timeout: float = 10.0):
        if settings.telegram_token is None:
            raise ValueError("SAFERBOT_TELEGRAM_TOKEN is not set")
        self.settings = settings
        self.poll_timeout = poll_timeout
        api = settings.telegram_api_url.rstrip("/")
        token = settings.telegram_token.get_secret_value()
        # no rate limiter, no retries: the outbox paces, retries and falls back
        # every socket write of a send or an edit asks whether the lease is valid at that instant (gate)
        request = HTTPXRequest(connection_pool_size=64, connect_timeout=request_timeout,
                               read_timeout=request_timeout, write_timeout=request_timeout,
                               pool_timeout=request_timeout, media_write_timeout=max(request_timeout, 20.0),
                               httpx_kwargs={"transport": gate.transport(self._may_send, 64)})
        updates_request = HTTPXRequest(connection_pool_size=2, connect_timeout=request_timeout,
                                       read_timeout=request_timeout, pool_timeout=request_timeout)
        # updater(None): PTB's Updater confirms updates before they are stored; we poll ourselves
        self.app = (Application.builder().token(token).base_url(f"{api}/bot").base_file_url(f"{api}/file/bot")
                    .request(request).get_updates_request(updates_request).job_queue(None).updater(None).build())
        self.engine: Engine | None = None
        self.username: str | None = None
        self.mode = "stopped"  # polling | webhook
        self.webhook_port: int | None = None  # the port actually listened on (webhook mode)
        self._menus: dict[str, tuple[tuple[str, str], ...]] = {}  # user id -> command menu last set
        self._tasks: set[asyncio.Task] = set()
        self._socket: socket.socket | None = None
        self._webhook: web.AppRunner | None = None
        self._relay: asyncio.Task | None = None
        self._poller: asyncio.Task | None = None
        self._offset: int | None = None  # next update id to ask for: everything before it is stored
        self._confirmed: int | None = None  # the offset Telegram has last been sent
        self.ready = asyncio.Event()  # set once connected and receiving
        self.quit = asyncio.Event()  # set when the token is refused later: the process exits (bot/serve.py)
        self.fatal = ""

    def _may_send(self) -> bool:
        return self.engine is None or self.engine.may_send()

    def give_up(self, why: str) -> None:
        """A fault no retry can mend (the token was revoked): the process exits with the fix."""
        log.critical(why)
        self.fatal = why
        self.quit.set()

    # --- life cycle ------------------------------------------------------------
    async def start(self, engine: Engine) -> None:
        """Connect; if Telegram cannot be reached now, keep trying in the background (the outbox waits)."""
        self.engine = engine
        try:
            await self._connect()
        except InvalidToken:
            raise  # fatal at start: `saferbot run` exits 2 with the fix (bot/serve.py)
        except (TelegramError, OSError) as e:
            log.warning("Telegram is not reachable yet (%s); retrying in the background", e)
            self._spawn(self._keep_connecting())

    async def _keep_connecting(self) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
                return
            except InvalidToken:
                self.give_up(REFUSED)
                return
            except (TelegramError, OSError) as e:
                delay = min(delay * 2, 60.0)
                log.warning("Telegram still not reachable (%s); next try in %.0f s", e, delay)

    async def _connect(self) -> None:
        if not self.app._initialized:
            await self.app.initialize()  # getMe: checks the token, learns the bot's username
        self.username = self.app.bot.username
        await self._remember_username()
        s = self.settings
        if s.telegram_webhook_url and not s.telegram_webhook_secret:
            log.warning("SAFERBOT_TELEGRAM_WEBHOOK_URL is set but SAFERBOT_TELEGRAM_WEBHOOK_SECRET is not: a webhook "
                        "without a secret would accept forged updates, so the bot long-polls instead")
        if s.telegram_webhook_url and s.telegram_webhook_secret:
            await self._serve_webhook(urlsplit(s.telegram_webhook_url).path or "/")
            await self.app.bot.set_webhook(s.telegram_webhook_url, allowed_updates=ALLOWED_UPDATES,
                                           secret_token=s.telegram_webhook_secret.get_secret_value())
            self.mode = "webhook"
            if s.on_postgres and (self._relay is None or self._relay.done()):  # webhooks a standby stored
                self._relay = self._spawn(relay.drain(self.engine.store, "telegram", self._relayed,
                                                      self._tell_admins))
        else:
            await self.app.bot.delete_webhook()  # getUpdates is refused while a webhook is set
            if self._poller is None or self._poller.done():
                self._poller = self._spawn(self._poll())
            self.mode = "polling"
        self.ready.set()
        log.info("Telegram: @%s, %s", self.username, self.mode)

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._offset is not None and self._offset != self._confirmed:
            with contextlib.suppress(Exception):  # tidy only: unconfirmed stored updates come again, deduped
                await asyncio.wait_for(self.app.bot.get_updates(offset=self._offset, timeout=0, limit=1), 2)
        if self._webhook:
            await self._webhook.cleanup()
            self._webhook = None
        with contextlib.suppress(Exception):
            await self.app.shutdown()
        if self._socket:
            self._socket.close()
            self._socket = None
        self.mode = "stopped"

    async def _remember_username(self) -> None:
        """Store the bot's username so `saferbot invite` can build t.me links."""
        if not (self.engine and self.engine.store and self.username):
            return

        await self.engine.remember(USERNAME_KEY, self.username)

    async def _tell_admins(self, text: str) -> None:
        assert self.engine is not None
        await self.engine.perform(relay.tell_admins, text)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- inbound ---------------------------------------------------------------
    async def _on_update(self, update: Update) -> None:
        """Store one update; raises if it was not stored, so it is not confirmed."""
        assert self.engine is not None
        try:
            msg = self.inbound(update)
        except Exception:  # an update we cannot read would only fail again: skip it
            log.exception("Telegram update %s could not be read; skipped", update.update_id)
            return
        if msg is None:
            return
        if update.callback_query:
            self._spawn(self._answer(update.callback_query))
        await self.engine.receive(msg)
        try:
            self._refresh_menu(msg.user_id)
        except Exception:
            log.exception("refreshing the command menu of %s failed", msg.user_id)

    def inbound(self, update: Update) -> Inbound | None:
        """Normalise one update; None for what the bot does not act on (stickers, channel posts...)."""
        event = str(update.update_id)
        if (q := update.callback_query) is not None:
            action, arg = Button.parse(q.data or "")
            chat = q.message.chat if q.message else None
            return Inbound("telegram", event, str(q.from_user.id), str(chat.id if chat else q.from_user.id),
                           action=action, arg=arg, is_group=bool(chat and chat.type != "private"),
                           display_name=q.from_user.full_name)
        m = update.message
        if m is None or m.from_user is None or m.from_user.is_bot:
            return None
        text = m.text or m.caption
        if not text:
            return None
        return Inbound("telegram", event, str(m.from_user.id), str(m.chat.id), text=text,
                       is_group=m.chat.type != "private", display_name=m.from_user.full_name)

    async def _answer(self, query) -> None:
        try:
            await query.answer()
        except TelegramError as e:  # too old, or already answered: nothing a person would miss
            log.info("answering callback %s: %s", query.id, e)

    def _refresh_menu(self, user_id: str) -> None:
        """Keep the person's command menu (setMyCommands) to what they may use."""
        assert self.engine is not None  # what a person may do: the App's commands, never a handler
        person = self.engine.directory.find("telegram", user_id)
        if person is None:
            return
        menu = tuple(self.engine.app.commands_for(person))
        if self._menus.get(user_id) == menu:
            return
        self._menus[user_id] = menu
        self._spawn(self._set_menu(user_id, menu))

    async def _set_menu(self, user_id: str, menu: tuple[tuple[str, str], ...]) -> None:
        assert self.engine is not None
        commands = []
        for name, usage in menu:
            if not _COMMAND.match(name):
                continue
            cmd = self.engine.app.commands.get(name)
            description = (cmd.help if cmd else name) or name
            if usage and usage != name:
                description = f"{description} ({usage})"
            commands.append(BotCommand(name, description[:256].ljust(3, ".")))
        try:
            await self.app.bot.set_my_commands(commands[:100], scope=BotCommandScopeChat(int(user_id)))
        except TelegramError as e:
            log.info("setting the command menu for %s failed: %s", user_id, e)
            self._menus.pop(user_id, None)  # try again next time they write

    # --- outbound --------------------------------------------------------------
    def connected(self) -> bool:
        return self.ready.is_set()

    def chat_interval(self, chat_id: str) -> float:
        return GROUP_INTERVAL if chat_id.startswith("-") else self.limits.per_chat_interval

    def chat_burst(self, chat_id: str) -> int:
        return 1 if chat_id.startswith("-") else self.limits.per_chat_burst

    def address(self, person: Person) -> tuple[str, str] | None:
        if person.telegram:
            return str(person.telegram), str(person.telegram)
        return None

    async def deliver(self, d: Delivery) -> str | None:
        if not self.ready.is_set():
            raise ConnectionError("not connected to Telegram yet")  # the outbox retries with backoff
        try:
            if d.kind == "edit":
                return await self._edit(d)
            return await self._send(d)
        except TgRetryAfter as e:
            # a private chat's 429 is the bot's overall flood limit: hold the whole platform;
            # a group's is that group's 20-a-minute limit
            raise RetryAfter(_seconds(e.retry_after), whole_platform=not d.chat_id.startswith("-")) from e
        except TimedOut as e:  # the request may have reached Telegram: a card sent again says so
            raise MaybeDelivered(e.message) from e
        except Forbidden as e:  # blocked by the user, kicked from the group, never started the bot
            raise Undeliverable(e.message) from e
        except ChatMigrated as e:
            raise Undeliverable(f"the group became a supergroup with id {e.new_chat_id}") from e
        except BadRequest as e:
            if any(g in e.message.lower() for g in _GONE):
                raise Undeliverable(e.message) from e
            if d.kind == "edit" and any(g in e.message.lower() for g in ("message to edit not found",
                                                                           "message can't be edited")):
                raise Undeliverable(e.message) from e
            raise

    async def _send(self, d: Delivery) -> str:
        bot = self.app.bot
        chat = int(d.chat_id)
        markup = keyboard(d.buttons)
        path = Path(d.attachment) if d.attachment else None
        if path is not None and not path.is_file():
            log.warning("attachment %s of delivery %s is missing; sending the text alone", d.attachment, d.id)
            path = None
        if path is None:
            return await self._send_text(chat, d.text, markup, d.live)
        caption = escape(d.text)
        if len(caption) > MAX_CAPTION:  # too long for a caption: the text first, then the file
            await self._send_text(chat, d.text, None, d.live)
            caption = ""
        with path.open("rb") as f:
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                m = await bot.send_photo(chat, f, caption=caption or None, parse_mode=ParseMode.HTML,
                                         reply_markup=markup)
            else:
                m = await bot.send_document(chat, f, filename=path.name, caption=caption or None,
                                            parse_mode=ParseMode.HTML, reply_markup=markup)
        return str(m.message_id)

    async def _send_text(self, chat: int, text: str, markup: InlineKeyboardMarkup | None, live: bool = False) -> str:
        ids = []
        pieces = parts(text) if live else chunks(text)
        for i, part in enumerate(pieces):
            last = i == len(pieces) - 1
            m = await self.app.bot.send_message(chat, escape(part) or ".", parse_mode=ParseMode.HTML,
                                                reply_markup=markup if last else None,
                                                link_preview_options=NO_PREVIEW)
            ids.append(str(m.message_id))
        return ",".join(ids)  # every part, so an edit of a card keeps each one truthful; the last has the buttons

    async def _edit(self, d: Delivery) -> str | None:
        if not d.message_ref:
            raise Undeliverable("no message to edit")
        refs = d.message_ref.split(",")
        if len(refs) > 1:
            await self._edit_parts(d, refs)
            return d.message_ref
        text = d.text if len(escape(d.text)) <= MAX_TEXT else parts(d.text, 1)[0]
        try:
            await self.app.bot.edit_message_text(escape(text) or ".", chat_id=int(d.chat_id),
                                                 message_id=int(d.message_ref), parse_mode=ParseMode.HTML,
                                                 reply_markup=keyboard(d.buttons),
                                                 link_preview_options=NO_PREVIEW)
        except BadRequest as e:
            low = e.message.lower()
            if "message is not modified" in low:
                return d.message_ref
            if "no text in the message" in low:  # a photo: its caption carries the text
                try:
                    await self.app.bot.edit_message_caption(chat_id=int(d.chat_id), message_id=int(d.message_ref),
                                                            caption=escape(text[:MAX_CAPTION]),
                                                            parse_mode=ParseMode.HTML,
                                                            reply_markup=keyboard(d.buttons))
                except BadRequest as e2:
                    if "message is not modified" not in e2.message.lower():
                        raise
                return d.message_ref
            raise
        return d.message_ref

    async def _edit_parts(self, d: Delivery, refs: list[str]) -> None:
        """A card sent as several messages: each one gets its new part; the buttons stay on the last."""
        for i, (ref, text) in enumerate(zip(refs, parts(d.text, len(refs)), strict=True)):
            last = i == len(refs) - 1
            try:
                await self.app.bot.edit_message_text(escape(text) or ".", chat_id=int(d.chat_id), message_id=int(ref),
                                                     parse_mode=ParseMode.HTML,
                                                     reply_markup=keyboard(d.buttons) if last else None,
                                                     link_preview_options=NO_PREVIEW)
            except BadRequest as e:
                if "message is not modified" not in e.message.lower():
                    raise
