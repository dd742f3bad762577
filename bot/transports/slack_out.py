"""Slack, outbound: the outbox hands over one `Delivery` at a time; this only translates.

429 -> RetryAfter, permanent Slack errors -> Undeliverable, everything else (5xx, network)
propagates so the outbox retries with backoff. Message refs are "CHANNEL:ts" because a DM
is posted to the user id but can only be edited through the real channel id. A message
carries metadata naming its outbox row, so a resend after a crash finds the first copy.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from ..messages import Button, Delivery
from ..model import Priority
from . import slack_blocks as blocks
from .base import MaybeDelivered, RetryAfter, Undeliverable

log = logging.getLogger("bot.transports.slack")

TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
EPHEMERAL_CHANNEL_TTL = 600.0  # an ephemeral reply to a slash command goes to that channel for this long


def _is_user_id(chat: str) -> bool:
    return chat[:1] in ("U", "W")


class SlackOut:
    """Mixin for SlackTransport: delivery."""

    client: Any
    _dm: dict[str, str]
    _command_channel: dict[str, tuple[str, float]]
    _app: Any  # the App: the forms a message can open (SlackTransport gives it)

    def _home_changed(self, user: str) -> None:  # the transport refreshes the Home tab
        raise NotImplementedError

    # --- out ---------------------------------------------------------------------
    async def deliver(self, d: Delivery) -> str | None:
        try:
            if d.kind == "edit":
                ref = await self._edit(d)
            elif d.ephemeral:
                ref = await self._ephemeral(d)
            else:
                ref = await self._post(d)
        except SlackApiError as e:
            raise self._translate(e) from e
        except TimeoutError as e:  # the request may have reached Slack: a card sent again says so
            raise MaybeDelivered(f"no answer from Slack in time: {e}") from e
        if d.user_id:
            self._home_changed(d.user_id)
        return ref

    def _render(self, d: Delivery) -> tuple[str, list[dict]]:
        buttons = list(d.buttons)
        app = self._app
        if d.form and d.form in app.forms and not any(app.form_buttons.get(b.action) == d.form for b in buttons):
            buttons.append(Button(f"Open {app.forms[d.form].title}", blocks.FORM_OPEN, f"{d.form}|{d.form_ref}"))
        return blocks.message(d.text, buttons, urgent=d.priority == Priority.alarm)

    async def _post(self, d: Delivery) -> str:
        text, blks = self._render(d)
        if d.in_doubt and not d.live and (found := await self._already_posted(d)):
            return found  # sent before a crash: Slack has it, so no duplicate (a card is marked as a repeat instead)
        resp = await self.client.chat_postMessage(channel=d.chat_id, text=text, blocks=blks, unfurl_links=False,
                                                  unfurl_media=False, metadata=_metadata(d))
        channel, ts = resp.get("channel") or d.chat_id, resp.get("ts") or ""
        if _is_user_id(d.chat_id) and channel:
            self._dm[d.chat_id] = channel
        if d.attachment:
            await self._upload(channel, d.attachment)
        return f"{channel}:{ts}"

    async def _already_posted(self, d: Delivery) -> str | None:
        """The message this outbox row became before a crash, found by its metadata in recent history."""
        try:
            channel = d.chat_id
            if _is_user_id(channel):
                channel = self._dm.get(channel) or (await self.client.conversations_open(users=channel))["channel"]["id"]
            history = await self.client.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        except SlackApiError as e:
            log.info("Slack: could not look for an earlier copy of delivery %s: %s", d.id, e)
            return None
        for m in history.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_TYPE and (meta.get("event_payload") or {}).get("outbox_id") == d.id:
                return f"{channel}:{m.get('ts')}"
        return None

    async def _upload(self, channel: str, path: str) -> None:
        """Post a file (e.g. a chart) after its message; the text has already arrived, so a failure is logged."""
        try:
            await self.client.files_upload_v2(channel=channel, file=path)
        except SlackApiError as e:
            status = getattr(e.response, "status_code", 0)
            if status == 429 or status >= 500:
                log.warning("Slack: attachment %s not uploaded (%s); the text was sent", path, e)
            else:
                log.error("Slack: attachment %s refused: %s", path, e)
        except OSError as e:
            log.error("Slack: attachment %s unreadable: %s", path, e)

    async def _ephemeral(self, d: Delivery) -> str | None:
        text, blks = self._render(d)
        channel, user = d.chat_id, d.user_id or d.chat_id
        if _is_user_id(channel):
            # an answer to /saferbot shows where the command was typed (if recent); otherwise in the DM
            recent = self._command_channel.pop(user, None)
            if recent and time.monotonic() - recent[1] < EPHEMERAL_CHANNEL_TTL:
                channel = recent[0]
            elif user in self._dm:
                channel = self._dm[user]
            else:
                return await self._post(d)
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blks)
        except SlackApiError as e:
            if channel != d.chat_id and getattr(e.response, "status_code", 0) == 200:
                return await self._post(d)  # the bot is not in that channel: answer in the DM instead
            raise
        return None  # an ephemeral message can never be edited

    async def _edit(self, d: Delivery) -> str | None:
        if not d.message_ref or ":" not in d.message_ref:
            return d.message_ref  # nothing we could edit (e.g. an ephemeral copy)
        channel, _, ts = d.message_ref.partition(":")
        text, blks = self._render(d)
        await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blks)
        return d.message_ref

    def _translate(self, e: SlackApiError) -> Exception:
        resp = e.response
        status = getattr(resp, "status_code", None) or getattr(resp, "status", 0) or 0
        headers = getattr(resp, "headers", {}) or {}
        data = getattr(resp, "data", None)
        error = data.get("error", "") if isinstance(data, dict) else ""
        if status == 429 or error == "ratelimited":
            try:
                seconds = float(headers.get("Retry-After", "1"))
            except (TypeError, ValueError):
                seconds = 1.0
            return RetryAfter(max(seconds, 0.1))
        if status >= 500 or error in TRANSIENT:
            return e
        if status == 200 and error:  # Slack refused this message for good (PERMANENT lists the usual ones)
            return Undeliverable(error)
        return e


METADATA_TYPE = "saferbot_outbox"


def _metadata(d: Delivery) -> dict:
    """Slack message metadata naming the outbox row, so a resend after a crash can find the first copy."""
    return {"event_type": METADATA_TYPE, "event_payload": {"outbox_id": d.id}}
