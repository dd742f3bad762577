"""The Slack transport: slack-bolt's AsyncApp in Socket Mode (default) or over HTTP.

In: DMs to the bot (and channel messages where the bot is a member) become text
Inbounds; button presses become action Inbounds; `/saferbot <text>` behaves like the
same text sent in a DM; modals are opened from the press that asks for them (a
trigger_id lasts 3 s) and checked with bot.forms before the submission is taken.

Nothing is acknowledged to Slack before it is stored: the app runs with
`process_before_response=True`, so bolt sends the Socket Mode ack (or the HTTP 200)
only when the listener has returned, i.e. after `engine.receive` has committed the
event (milliseconds, well inside Slack's 3 s). If storing fails the listener raises,
bolt answers 500 (HTTP) or nothing (Socket Mode), and Slack delivers the event again;
the engine's intake dedupe (event id) makes a repeat act once. The App Home tab is
published from `engine.home(person)` when opened, and again shortly after anything is
delivered to that person, so it stays current.

Out: bot/transports/slack_out.py (the outbox calls `deliver`; it only translates Slack's answers).

Replies to `/saferbot` go to the person's DM with the bot (private, with working
buttons) and the command itself is answered with a one-line ephemeral pointer when
it was used outside that DM.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .. import forms, listen
from .. import relay_queue as relay
from ..messages import Button, Inbound
from ..model import Person
from ..settings import Settings
from . import slack_blocks as blocks
from .base import Limits, Transport
from .slack_out import METADATA_TYPE, SlackOut

__all__ = ["COMMAND", "COMMAND_POINTER", "HTTP_PATH", "METADATA_TYPE", "PERMANENT", "SlackTransport"]

if TYPE_CHECKING:
    from ..app import App
    from ..engine import Engine

log = logging.getLogger(__name__)
_NOT_STORED: contextvars.ContextVar[list[bool]] = contextvars.ContextVar("slack_relayed_not_stored")

COMMAND = "/saferbot"
HTTP_PATH = "/slack/events"
# Slack errors that will not go away by trying again: the outbox marks the message failed
# and sends it on the person's other platform.
PERMANENT = {
    "channel_not_found", "not_in_channel", "user_not_found", "user_not_in_channel", "account_inactive",
    "is_archived", "cannot_dm_bot", "user_disabled", "users_not_found", "restricted_action",
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "no_permission", "missing_scope",
    "ekm_access_denied", "message_not_found", "cant_update_message", "edit_window_closed", "msg_too_long",
    "invalid_blocks", "invalid_blocks_format", "no_text", "too_many_attachments", "channel_is_archived",
    "team_access_not_granted", "invalid_arguments",
}
NEUTRAL_HOME = "Hello! This app is for library staff. If you work here, ask your manager to add you."
HOME_FOOTER = "Send /saferbot help, or message me here, to see what you can do."
FORM_DID_NOT_OPEN = "Sorry, the form did not open. Please press the button again."
COMMAND_POINTER = "I've answered in your messages with saferbot (Apps > saferbot)."
HOME_REFRESH_DELAY = 1.0  # after a message to someone, their Home tab is republished this much later


class SlackTransport(SlackOut, Transport):
    platform = "slack"

    def __init__(self, settings: Settings, *, limits: Limits | None = None, http_host: str | None = None):
        if settings.slack_bot_token is None:
            raise ValueError("SAFERBOT_SLACK_BOT_TOKEN is not set")
        # Slack lets an app post about one message per second to a channel, with a workspace-wide ceiling
        self.limits = limits or Limits(per_second=20, per_chat_interval=1.0)
        self.settings = settings
        self.app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
        if not self.app_token and not secret:
            raise ValueError("Slack needs SAFERBOT_SLACK_APP_TOKEN (Socket Mode) or SAFERBOT_SLACK_SIGNING_SECRET"
                             " (HTTP mode)")
        base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
        # retry_handlers=[]: the outbox owns retries, pacing and backoff
        self.client = AsyncWebClient(token=settings.slack_bot_token.get_secret_value(), base_url=base,
                                     retry_handlers=[], timeout=10)
        # process_before_response: ack only after the listener (and so the store) has finished
        self.app = AsyncApp(client=self.client, signing_secret=secret, name="saferbot",
                            logger=logging.getLogger("saferbot.slack.bolt"), process_before_response=True)
        self.http_host = http_host or settings.host_for(settings.slack_http_listen)
        self.http_port: int | None = None  # the bound port once serving HTTP
        self.engine: Engine | None = None
        self.socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._connect: asyncio.Task | None = None
        self._dm: dict[str, str] = {}  # user id -> the app DM channel id
        self._command_channel: dict[str, tuple[str, float]] = {}  # user -> (channel, when) of their last /saferbot
        self._homes: set[str] = set()  # people whose Home tab we have published: kept current
        self.home_refresh_delay = HOME_REFRESH_DELAY
        self._home_pending: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._register()

    # --- life cycle ------------------------------------------------------------
    async def start(self, engine: Engine) -> None:
        self.engine = engine
        if self.app_token:
            self.socket = AsyncSocketModeHandler(self.app, self.app_token, web_client=self.client)
            # in the background: an unreachable Slack must not hold up the engine or Telegram
            self._connect = asyncio.create_task(self._connect_socket())
        else:
            web_app = web.Application()
            web_app.add_routes([web.post(HTTP_PATH, self._http)])
            self._runner = web.AppRunner(web_app, access_log=None)
            await self._runner.setup()
            site = listen.Site(self._runner, self.http_host, self.settings.slack_http_port,
                               limits=listen.Limits.of(self.settings))
            await site.start()
            self.http_port = site.port
            log.info("Slack: HTTP mode, serving %s on %s:%s", HTTP_PATH, self.http_host, self.http_port)
            if self.settings.on_postgres:  # requests a standby stored for us (bot/relay.py)
                self._spawn(relay.drain(engine.store, "slack", self._relayed, self._tell_admins),
                            "taking relayed requests")

    async def _connect_socket(self) -> None:
        assert self.socket is not None
        try:
            me = await self.client.auth_test()
            log.info("Slack: bot %s in workspace %s", me.get("user"), me.get("team"))
        except SlackApiError as e:
            log.error("Slack: the bot token was refused (%s); check SAFERBOT_SLACK_BOT_TOKEN",
                      e.response.get("error") if hasattr(e.response, "get") else e)
        except Exception as e:
            log.warning("Slack: could not reach the Web API yet (%s); connecting anyway", e)
        await self.socket.connect_async()
        log.info("Slack: Socket Mode connected")

    async def stop(self) -> None:
        if self._connect:
            self._connect.cancel()
            await asyncio.gather(self._connect, return_exceptions=True)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.socket:
            with contextlib.suppress(Exception):
                await self.socket.close_async()
        if self._runner:
            await self._runner.cleanup()
        with contextlib.suppress(Exception):
            if self.client.session is not None:
                await self.client.session.close()

    async def _http(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.app.async_dispatch(await to_bolt_request(request)))

    async def _relayed(self, body: str, headers: dict[str, str]) -> bool:
        """A request a standby stored (bot/relay.py), dispatched as if it came now: signed afresh, as the
        standby checked its signature. False if the store could not keep it; raises if handling failed."""
        secret = self.settings.slack_signing_secret
        if secret is not None:
            headers = relay.slack_resigned(body, headers, secret.get_secret_value())
        not_stored: list[bool] = []
        token = _NOT_STORED.set(not_stored)
        try:
            response = await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        finally:
            _NOT_STORED.reset(token)
        if not_stored:
            return False
        if response.status >= 400:
            raise RuntimeError(f"Slack's app answered {response.status}")
        return True

    async def _tell_admins(self, text: str) -> None:
        assert self.engine is not None
        await self.engine.perform(relay.tell_admins, text)

    # --- addressing --------------------------------------------------------------
    def address(self, person: Person) -> tuple[str, str] | None:
        return (person.slack, person.slack) if person.slack else None

    # --- in ----------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app

        @app.event("message")
        async def on_message(body: dict, event: dict) -> None:
            await self._on_message(body, event)

        @app.event("app_home_opened")
        async def on_home(event: dict) -> None:  # nothing to store: ack now, publish in the background
            self._spawn(self._on_home(event), "publishing a home tab")

        @app.action(re.compile(".*"))
        async def on_action(ack, body: dict) -> None:  # type: ignore[no-untyped-def]
            await ack()  # sent when this returns (process_before_response), so after the store
            await self._on_action(body)

        @app.command(COMMAND)
        async def on_command(ack, command: dict) -> None:  # type: ignore[no-untyped-def]
            user, channel = command.get("user_id", ""), command.get("channel_id", "")
            if channel and channel != self._dm.get(user):
                await ack(text=COMMAND_POINTER)
            else:
                await ack()
            await self._on_command(command)

        @app.view(re.compile("^" + re.escape(blocks.CALLBACK_PREFIX)))
        async def on_view(ack, body: dict, view: dict) -> None:  # type: ignore[no-untyped-def]
            await self._on_view(ack, body, view)

    async def _receive(self, msg: Inbound) -> None:
        from ..engine import NotStored

        assert self.engine is not None
        try:
            await self.engine.receive(msg)
        except NotStored:
            if (flags := _NOT_STORED.get(None)) is not None:
                flags.append(True)  # a relayed request: it stays in the relay table (bot/relay.py)
            raise

    async def _on_message(self, body: dict, event: dict) -> None:
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share", "thread_broadcast"):
            return
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        kind = event.get("channel_type", "")
        if kind == "im":
            self._dm[user] = channel
        elif kind not in ("channel", "group", "mpim"):
            return
        event_id = body.get("event_id") or f"{channel}:{event.get('ts')}"
        # a DM is answered by posting to the user id, as alerts to that person are: one chat, one pace
        await self._receive(Inbound(platform="slack", event_id=event_id, user_id=user,
                                    chat_id=user if kind == "im" else channel, text=self._plain(event.get("text")),
                                    is_group=kind != "im"))

    def _plain(self, text: str | None) -> str:
        """What the person typed, as plain text (names for mentions of rostered people, for display only)."""
        def name_of(user: str) -> str | None:
            person = self.engine.directory.find("slack", user) if self.engine else None
            return person.name if person else None

        return blocks.unformat(text or "", name_of)

    async def _on_action(self, body: dict) -> None:
        user = (body.get("user") or {}).get("id", "")
        action = (body.get("actions") or [{}])[0]
        name, arg = Button.parse(action.get("value") or "")
        channel = (body.get("channel") or {}).get("id") or user
        if channel.startswith("D"):
            self._dm[user] = channel
            channel = user
        form_name = self._app.form_buttons.get(name)
        if name == blocks.FORM_OPEN:
            form_name, _, arg = arg.partition("|")
        if form_name:
            await self._open_form(body.get("trigger_id", ""), form_name, arg, channel, user)
            return
        event_id = f"{action.get('action_ts') or body.get('trigger_id')}:{user}"
        await self._receive(Inbound(platform="slack", event_id=event_id, user_id=user, chat_id=channel,
                                    action=name, arg=arg, is_group=channel[:1] in ("C", "G")))

    async def _on_command(self, command: dict) -> None:
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        if channel:
            self._command_channel[user] = (channel, time.monotonic())
        event_id = f"cmd:{command.get('trigger_id') or time.time()}"
        await self._receive(Inbound(platform="slack", event_id=event_id, user_id=user, chat_id=user,
                                    text=self._plain(command.get("text")).strip()))

    def connected(self) -> bool:
        """Started: a delivery (which renders the App's forms) waits until then, uncounted."""
        return self.engine is not None

    @property
    def _app(self) -> App:  # the forms it can show are the App's (bot/compose.py names them)
        assert self.engine is not None
        return self.engine.app

    async def _open_form(self, trigger_id: str, name: str, arg: str, channel: str, user: str) -> None:
        form = self._app.forms.get(name)
        if form is None or not trigger_id:
            log.warning("Slack: no form %r to open", name)
            return
        try:
            await self.client.views_open(trigger_id=trigger_id, view=blocks.modal(form, arg, channel))
        except SlackApiError as e:
            log.warning("Slack: could not open the %s form for %s: %s", name, user, e)
            with contextlib.suppress(Exception):
                await self.client.chat_postEphemeral(channel=self._dm.get(user) or channel, user=user,
                                                     text=FORM_DID_NOT_OPEN)

    async def _on_view(self, ack: Any, body: dict, view: dict) -> None:
        assert self.engine is not None
        name = view.get("callback_id", "")[len(blocks.CALLBACK_PREFIX):]
        form = self._app.forms.get(name)
        if form is None:
            await ack()
            return
        values = blocks.modal_values(form, (view.get("state") or {}).get("values") or {})
        clean, errors = forms.validate(form, values, self.engine.clock.local())
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        user = (body.get("user") or {}).get("id", "")
        chat = user  # the answer goes to the person's DM with the bot, wherever the form was opened
        await self._receive(Inbound(platform="slack", event_id=f"view:{view.get('id')}", user_id=user, chat_id=chat,
                                    form=name, arg=str(meta.get("arg") or ""), values=clean))

    async def _on_home(self, event: dict) -> None:
        assert self.engine is not None
        if event.get("tab", "home") != "home":
            return
        user = event.get("user", "")
        if (channel := event.get("channel")) and user:
            self._dm.setdefault(user, channel)
        await self._publish_home(user)

    async def _publish_home(self, user: str) -> None:
        assert self.engine is not None
        person = self.engine.directory.find("slack", user)
        if person is None:
            view = blocks.home("saferbot", [NEUTRAL_HOME], "")
            view["blocks"] = view["blocks"][:2]
        else:
            lines = await self.engine.home(person)
            view = blocks.home(f"saferbot - {person.name}", lines, HOME_FOOTER)
            self._homes.add(user)
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as e:
            log.warning("Slack: could not publish the home tab for %s: %s", user, e)

    def _spawn(self, coro, what: str) -> None:  # noqa: ANN001
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("Slack: %s failed", what)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _home_changed(self, user: str) -> None:
        """Something was just delivered to this person: refresh their Home tab shortly (once per burst)."""
        if user not in self._homes or user in self._home_pending:
            return
        self._home_pending.add(user)

        async def later() -> None:
            try:
                await asyncio.sleep(self.home_refresh_delay)
                self._home_pending.discard(user)
                await self._publish_home(user)
            except Exception:
                log.exception("Slack: refreshing the home tab of %s failed", user)

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
