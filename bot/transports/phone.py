"""The phone as two outbox platforms: `sms` by GOV.UK Notify, `voice` by Twilio. One interface, no rules.

An outbox row on platform sms or voice is addressed to a number (chat_id, E.164); what it says and
whom it reaches were decided by handlers/phone.py. These transports only turn a row into the
provider's request and its answer into the outbox's terms: RetryAfter for a rate limit,
Undeliverable for a number the provider refuses, MaybeDelivered when the request left and no answer
came (the retry is then marked as a possible repeat), anything else a passing fault that the outbox
retries. Neither is ever a chat address (`address` is None), so chat delivery never falls back to it.

Both providers' clients are synchronous: each request runs in a thread. Both are optional extras
(`pip install 'saferbot[phone]'`); what comes back from them arrives at bot/transports/phone_http.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..messages import Delivery
from ..model import Person
from .base import Limits, MaybeDelivered, RetryAfter, Transport, Undeliverable

TIMEOUT = 15.0  # seconds for one provider request
TWIML = "/phone/twilio/voice"
GATHER = "/phone/twilio/gather"
STATUS = "/phone/twilio/status"
REPEAT = "(may be a repeat) "


class PhoneTransport(Transport):
    """What the two phone platforms share: reached only by number, never as someone's chat."""

    limits = Limits(per_second=10)

    async def start(self, engine: Any) -> None:
        self.engine = engine

    async def stop(self) -> None:
        return None

    def address(self, person: Person) -> tuple[str, str] | None:
        return None

    async def deliver(self, d: Delivery) -> str | None:
        if d.kind != "send":
            return d.message_ref  # a text or a call cannot be edited
        return await self._send(d)

    async def _send(self, d: Delivery) -> str:
        raise NotImplementedError


class SmsTransport(PhoneTransport):
    platform = "sms"

    def __init__(self, api_key: str, template_id: str, base_url: str):
        from notifications_python_client.notifications import NotificationsAPIClient

        self.client = NotificationsAPIClient(api_key, base_url=base_url, timeout=TIMEOUT)
        self.template_id = template_id

    async def _send(self, d: Delivery) -> str:
        import requests
        from notifications_python_client.errors import HTTPError

        text = (REPEAT if d.in_doubt else "") + d.text
        try:
            answer = await asyncio.to_thread(self.client.send_sms_notification, d.chat_id, self.template_id,
                                             {"message": text}, f"outbox-{d.id}")
        except HTTPError as e:
            if isinstance(e.__cause__, requests.ReadTimeout):
                raise MaybeDelivered(f"Notify did not answer in {TIMEOUT:g} s") from e
            if e.status_code == 429:
                raise RetryAfter(5, whole_platform=True) from e
            if e.status_code == 400:  # a number or template Notify refuses: trying again will not help
                raise Undeliverable(f"Notify refused it: {e.message}") from e
            raise ConnectionError(f"Notify: {e.status_code} {e.message}") from e
        return str(answer.get("id", ""))


class VoiceTransport(PhoneTransport):
    platform = "voice"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_url: str, public_url: str):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=TIMEOUT))
        self.client.api.base_url = api_url.rstrip("/")
        self.from_number = from_number
        self.public_url = public_url.rstrip("/")

    async def _send(self, d: Delivery) -> str:
        import requests
        from twilio.base.exceptions import TwilioRestException

        q = f"?d={d.id}"
        try:
            call = await asyncio.to_thread(
                self.client.calls.create, to=d.chat_id, from_=self.from_number, url=self.public_url + TWIML + q,
                method="POST", status_callback=self.public_url + STATUS + q, status_callback_method="POST",
                machine_detection="Enable", timeout=30)
        except requests.ReadTimeout as e:
            raise MaybeDelivered(f"Twilio did not answer in {TIMEOUT:g} s") from e
        except TwilioRestException as e:
            if e.status == 429:
                raise RetryAfter(5, whole_platform=True) from e
            if e.status == 400:  # an invalid or unreachable number (21211, 21214, ...)
                raise Undeliverable(f"Twilio refused it: {e.code} {e.msg}") from e
            raise ConnectionError(f"Twilio: {e.status} {e.msg}") from e
        return str(call.sid)
