"""A fake Twilio Voice API on 127.0.0.1 (any free port), for the real `twilio` client.

POST /2010-04-01/Accounts/<sid>/Calls.json (basic auth: the account SID and auth token) places a
call; then, like Twilio, the fake fetches the TwiML from the call's Url, parses its <Gather>, and
plays the outcome scripted for that number back to the bot, every request signed with
X-Twilio-Signature (the real RequestValidator's algorithm):

  "pressed-1"  answered by a person who presses 1 (the Gather's action gets Digits=1)
  "pressed-2"  answered, a wrong key
  "no-key"     answered, no key (the Gather times out; Twilio goes on to the next verb)
  "voicemail"  answered by a machine (AnsweredBy=machine_start)
  "busy", "no-answer", "failed"   never answered: only the status callback

The status callback (CallStatus, AnsweredBy) ends every call. `script(number, outcome)` sets it
(default "pressed-1"); `calls` records each call with the TwiML it got and what the bot answered.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from .provider import FakeProvider

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
FROM = "+441632960000"


@dataclass
class FakeCall:
    sid: str
    to: str
    url: str
    status_callback: str
    outcome: str
    at: float  # time.perf_counter() when placed
    twiml: str = ""
    said: list[str] = field(default_factory=list)  # every <Say> the bot gave, in order
    digits_answer: str = ""  # the TwiML answering the key press
    status_answer: int = 0  # what the bot answered the status callback
    done: bool = False


class FakeTwilio(FakeProvider):
    def __init__(self, token: str = AUTH_TOKEN):
        super().__init__()
        self.token = token
        self.validator = RequestValidator(token)
        self.calls: list[FakeCall] = []
        self.outcomes: dict[str, str] = {}
        self.forge = False  # sign callbacks with the wrong token (as a forger would)
        self._sids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self._create)

    def script(self, number: str, outcome: str) -> None:
        self.outcomes[number] = outcome

    def to(self, number: str) -> list[FakeCall]:
        return [c for c in self.calls if c.to == number]

    async def _create(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{self.token}".encode()).decode()
        if auth != expected or request.match_info["sid"] != ACCOUNT_SID:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = await request.post()
        to = str(form.get("To", ""))
        if not to.startswith("+"):
            return web.json_response({"code": 21211, "message": f"The 'To' number {to} is not a valid phone number.",
                                      "status": 400}, status=400)
        call = FakeCall(f"CA{next(self._sids):032x}", to, str(form.get("Url", "")), str(form.get("StatusCallback", "")),
                        self.outcomes.get(to, "pressed-1"), time.perf_counter())
        self.calls.append(call)
        self.later(self._play(call))
        return web.json_response({"sid": call.sid, "account_sid": ACCOUNT_SID, "to": to, "from": form.get("From"),
                                  "status": "queued", "direction": "outbound-api"}, status=201)

    async def _signed(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        signer = RequestValidator("0" * 32) if self.forge else self.validator
        headers = {"X-Twilio-Signature": signer.compute_signature(url, params)}
        for _ in range(20):
            with contextlib.suppress(aiohttp.ClientError):
                async with self.http.post(url, data=params, headers=headers) as r:
                    return r.status, await r.text()
            await asyncio.sleep(0.05)
        return 0, ""

    async def _play(self, call: FakeCall) -> None:
        base = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "To": call.to, "From": FROM}
        answered_by = {"voicemail": "machine_start"}.get(call.outcome, "human")
        if call.outcome in ("busy", "no-answer", "failed"):
            status = call.outcome
        else:
            status = "completed"
            _, call.twiml = await self._signed(call.url, {**base, "CallStatus": "in-progress",
                                                          "AnsweredBy": answered_by})
            with contextlib.suppress(ET.ParseError):
                root = ET.fromstring(call.twiml)
                call.said = [s.text or "" for s in root.iter("Say")]
                gather = root.find("Gather")
                digits = {"pressed-1": "1", "pressed-2": "2"}.get(call.outcome)
                if gather is not None and digits and answered_by == "human":
                    _, call.digits_answer = await self._signed(gather.get("action", ""), {
                        **base, "CallStatus": "in-progress", "Digits": digits})
        call.status_answer, _ = await self._signed(call.status_callback, {
            **base, "CallStatus": status, "AnsweredBy": answered_by, "CallDuration": "12"})
        call.done = True
