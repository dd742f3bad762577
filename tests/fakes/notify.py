"""A fake GOV.UK Notify on 127.0.0.1 (any free port), for the real notifications-python-client.

What it checks, as Notify does: the client's JWT (HS256, signed with the API key's secret, `iss`
the service id, `iat` within 30 seconds), that the template exists, and that the personalisation
fills every ((placeholder)). It answers with a notification id, then sends the delivery receipt
to the bot's callback with the bearer token, like Notify's callbacks:

- Notify's test numbers: 07700900003 ends in a temporary failure, 07700900002 in a permanent one;
  every other number is delivered.
- `rate_limit(n)`: the next n requests get 429 (RateLimitError), as over Notify's 3,000 a minute.
- `down(n)`: the next n requests get 500.
- `slow`: hold the next answers this many seconds after taking the text (the client times out).
- `text_in(number, message)`: a text to the service's inbound number, posted to the inbound callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
import uuid
from dataclasses import dataclass

import aiohttp
import jwt
from aiohttp import web

from .provider import FakeProvider

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"saferbot_test-{SERVICE_ID}-{SECRET}"
TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
CALLBACK_TOKEN = "fake-notify-callback-token-0123456789"
TEMPORARY, PERMANENT = "+447700900003", "+447700900002"


def canonical(number: str) -> str:
    n = re.sub(r"[\s()-]", "", number)
    return "+44" + n[1:] if n.startswith("0") else ("+" + n if n.startswith("44") else n)


@dataclass
class Sent:
    id: str
    to: str  # as canonical +44...
    body: str
    reference: str
    at: float  # time.perf_counter() when accepted


class FakeNotify(FakeProvider):
    def __init__(self, templates: dict[str, str] | None = None):
        super().__init__()
        self.templates = templates or {TEMPLATE: "((message))"}
        self.sent: list[Sent] = []
        self.refused: list[tuple[int, str]] = []  # (status, why) of every request refused
        self.receipt_url = ""
        self.inbound_url = ""
        self.token = CALLBACK_TOKEN
        self.delay = 0.0  # seconds before each receipt
        self.not_mobile: set[str] = set()  # numbers Notify refuses at once (400: not a UK mobile number)
        self.slow: list[float] = []  # seconds to hold each next answer, after taking the text (a timeout)
        self._rate_limited = 0
        self._down = 0
        self._ids = itertools.count(1)
        self.callbacks: list[tuple[str, int]] = []  # (what, status the bot answered)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/notifications/sms", self._sms)

    def rate_limit(self, n: int = 1) -> None:
        self._rate_limited = n

    def down(self, n: int = 1) -> None:
        self._down = n

    def to(self, number: str) -> list[Sent]:
        return [s for s in self.sent if s.to == canonical(number)]

    def _refuse(self, status: int, error: str, message: str) -> web.Response:
        self.refused.append((status, message))
        return web.json_response({"status_code": status, "errors": [{"error": error, "message": message}]},
                                 status=status)

    def _auth(self, request: web.Request) -> str | None:
        """Why the JWT is refused (None: it is good)."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return "Unauthorized: authentication token must be provided"
        try:
            claims = jwt.decode(header[7:], SECRET, algorithms=["HS256"], options={"verify_iat": False})
        except jwt.PyJWTError as e:
            return f"Invalid token: {type(e).__name__}"
        if claims.get("iss") != SERVICE_ID:
            return "Invalid token: service not found"
        if abs(time.time() - float(claims.get("iat", 0))) > 30:
            return "Error: Your system clock must be accurate to within 30 seconds"
        return None

    async def _sms(self, request: web.Request) -> web.Response:
        why = self._auth(request)
        if why:
            return self._refuse(403, "AuthError", why)
        if self._rate_limited:
            self._rate_limited -= 1
            return self._refuse(429, "RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds")
        if self._down:
            self._down -= 1
            return self._refuse(500, "Exception", "Internal server error")
        body = await request.json()
        template = self.templates.get(body.get("template_id", ""))
        if template is None:
            return self._refuse(400, "BadRequestError", "Template not found")
        values = body.get("personalisation") or {}
        missing = [p for p in re.findall(r"\(\(([^)]+)\)\)", template) if p not in values]
        if missing:
            return self._refuse(400, "BadRequestError", f"Missing personalisation: {', '.join(missing)}")
        to = canonical(str(body.get("phone_number", "")))
        if not re.fullmatch(r"\+\d{10,15}", to) or to in self.not_mobile:
            return self._refuse(400, "ValidationError", "phone_number Not a UK mobile number")
        text = re.sub(r"\(\(([^)]+)\)\)", lambda m: str(values[m.group(1)]), template)
        sent = Sent(str(uuid.UUID(int=next(self._ids))), to, text, str(body.get("reference") or ""), time.perf_counter())
        self.sent.append(sent)
        status = {TEMPORARY: "temporary-failure", PERMANENT: "permanent-failure"}.get(to, "delivered")
        self.later(self._receipt(sent, status))
        if self.slow:
            await asyncio.sleep(self.slow.pop(0))  # the text is taken; the answer comes late (or never arrives)
        return web.json_response({"id": sent.id, "reference": sent.reference, "content": {"body": text},
                                  "template": {"id": body["template_id"], "version": 1}}, status=201)

    async def _post(self, url: str, payload: dict, what: str) -> int:
        if not url:
            return 0
        for _ in range(20):  # Notify retries a callback that fails
            with contextlib.suppress(aiohttp.ClientError):
                async with self.http.post(url, json=payload, headers={"Authorization": f"Bearer {self.token}"}) as r:
                    self.callbacks.append((what, r.status))
                    if r.status < 500:
                        return r.status
            await asyncio.sleep(0.05)
        return 0

    async def _receipt(self, sent: Sent, status: str) -> None:
        await asyncio.sleep(self.delay)
        await self._post(self.receipt_url, {"id": sent.id, "reference": sent.reference or None, "to": sent.to,
                                            "status": status, "notification_type": "sms"}, f"receipt {status}")

    async def text_in(self, number: str, message: str) -> int:
        """Someone texts the service's inbound number; returns the status the bot answered."""
        return await self._post(self.inbound_url, {"id": str(uuid.uuid4()), "source_number": number.lstrip("+"),
                                                   "destination_number": "447700900000", "message": message},
                                "inbound")
