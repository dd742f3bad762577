"""The phone providers' callbacks, on the bot's HTTP server (App.http_routes, the health port).

- GOV.UK Notify: delivery receipts and texts in, each with the one bearer token
  (SAFERBOT_NOTIFY_CALLBACK_TOKEN); anything else is 401 and changes nothing.
- Twilio: what a call says (TwiML with a <Gather> for one key), the key pressed, and the call's
  outcome; each request must carry a valid X-Twilio-Signature for SAFERBOT_PHONE_PUBLIC_URL plus the
  path (403 otherwise).

Each callback is handed to the capability's `on_event(tx, event)` (handlers/phone_events.py, given
by the composition) in one stored transaction, and answered 200 only once that committed: a provider
whose callback failed sends it again. No decision is made here.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from .phone import GATHER, STATUS, TWIML

log = logging.getLogger(__name__)
RECEIPT = "/phone/notify/receipt"
INBOUND = "/phone/notify/inbound"


def routes(engine: Any, on_event: Callable[..., Any]) -> list:
    from aiohttp import web
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse

    def bearer_ok(request: web.Request) -> bool:
        token = engine.settings.notify_callback_token
        given = request.headers.get("Authorization", "")
        return token is not None and hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode())

    async def notify(request: web.Request, kind: str) -> web.Response:
        if not bearer_ok(request):
            return web.Response(status=401, text="unauthorised")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(body, dict):
            return web.Response(status=400, text="not an object")
        event = {"kind": kind, "id": str(body.get("id", ""))}
        if kind == "receipt":
            event |= {"reference": str(body.get("reference") or ""), "status": str(body.get("status", ""))}
        else:
            event |= {"from": str(body.get("source_number", "")), "text": str(body.get("message", ""))}
        try:
            await engine.perform(on_event, event)
        except Exception:
            log.exception("a Notify %s callback could not be stored; Notify will send it again", kind)
            return web.Response(status=503, text="try again")
        return web.Response(status=204)

    async def twilio(request: web.Request, kind: str) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        settings = engine.settings  # read per request: the engine is the one serving now
        token = settings.twilio_auth_token
        url = (settings.phone_public_url or "").rstrip("/") + request.path_qs
        signature = request.headers.get("X-Twilio-Signature", "")
        if token is None or not RequestValidator(token.get_secret_value()).validate(url, params, signature):
            return web.Response(status=403, text="forbidden")
        row = request.query.get("d", "")
        event = {"kind": kind, "row": row, "id": params.get("CallSid", ""), "call": params.get("CallSid", "")}
        if kind == "say" and params.get("AnsweredBy", "").startswith("machine"):
            return _twiml(VoiceResponse().hangup())  # voicemail: the status callback says so, and the ladder climbs
        if kind == "digits":
            event["digits"] = params.get("Digits", "")
        if kind == "call":
            event |= {"status": params.get("CallStatus", ""), "answered_by": params.get("AnsweredBy", "")}
        try:
            said = await engine.perform(on_event, event)
        except Exception:
            log.exception("a Twilio %s callback could not be stored", kind)
            return web.Response(status=503, text="try again")
        if kind == "call":
            return web.Response(status=204)
        return _twiml(_speech(VoiceResponse(), said or {}, f"{settings.phone_public_url.rstrip('/')}{GATHER}?d={row}"))

    def _twiml(response: Any) -> web.Response:
        return web.Response(text=str(response), content_type="text/xml")

    def serve(handler: Callable[..., Any], kind: str) -> Callable[[web.Request], Any]:
        async def answer(request: web.Request) -> web.Response:
            return await handler(request, kind)
        return answer

    return [web.post(RECEIPT, serve(notify, "receipt")), web.post(INBOUND, serve(notify, "inbound")),
            web.post(TWIML, serve(twilio, "say")), web.post(GATHER, serve(twilio, "digits")),
            web.post(STATUS, serve(twilio, "call"))]


def _speech(response: Any, said: dict, action: str) -> Any:
    """TwiML: the words, and if a key is asked for, one <Gather> for one digit; then what follows no key."""
    if said.get("ask"):
        gather = response.gather(num_digits=1, action=action, method="POST", timeout=8)
        gather.say(said.get("say", ""), language="en-GB")
        gather.say(said["ask"], language="en-GB")
        response.say(said.get("after", "Goodbye."), language="en-GB")
    else:
        response.say(said.get("say", "Goodbye."), language="en-GB")
    response.hangup()
    return response
