"""Panic-button presses over HTTP, on the bot's own server (the one that answers /healthz).

  POST /trigger/<device>             a signed press (Standard Webhooks headers)
  POST /trigger/<device>/heartbeat   a signed "I am alive"; answers the state
  GET  /trigger/<device>/state       signed: ready | raised | acknowledged | no responder on duty
  POST|GET /trigger/<device>/<token> a capability press (Shelly, Flic: a fixed URL, no signing)

Checks, in this order, each the same for every caller: the body's size, the device (read
from the store; the last copy seen if the store fails), the signature or token. An unknown
device, a disabled one and a bad signature all get 401 after the same work (an HMAC or a hash
against a dummy key), so the answer says nothing about which device ids exist. Signed
requests must be within TOLERANCE of now (replays older than that are refused; within it a
repeated webhook-id is answered from the store and raises nothing new). Only requests that
passed the check count towards a device's rate limit, so a stranger who knows a device id
cannot lock the real button out. A press is stored (and its alarm raised) before the 202;
if the store fails, the alarm goes out directly (bot/emergency.py) and the client gets 503,
so it sends the press again and it is stored once the store writes. The rules are in
handlers/trigger.py; nothing here decides who is told.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from handlers import trigger

from . import relay_queue as relay
from .panic_client import secret_key, sign  # noqa: F401 (sign: the one signing, shared with the client)

if TYPE_CHECKING:
    from aiohttp import web

    from .engine import Engine
    from .settings import Settings

log = logging.getLogger(__name__)

TOLERANCE = 300  # seconds either side of now a signed request's webhook-timestamp may be
MAX_BODY = 4096  # bytes: a press says almost nothing
MAX_HEADER = 1024  # characters of webhook-id or webhook-signature
RATE = 60  # authenticated requests per device per RATE_WINDOW (heartbeats and state polls included)
RATE_WINDOW = 60.0
RETRY_AFTER = "5"  # seconds: when the press could not be stored
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_DUMMY_KEY = b"\x00" * 32
_DUMMY_HASH = hashlib.sha256(b"no such device").hexdigest()


def verify(secret: str | None, headers: Any, body: bytes, now: float) -> bool:
    """Standard Webhooks: v1 HMAC-SHA256 of "<id>.<timestamp>.<body>", timestamp within TOLERANCE.
    With no secret (unknown device) the same work is done against a dummy key, and it fails."""
    msg_id, stamp, given = (headers.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and given) or len(msg_id) > MAX_HEADER or len(given) > MAX_HEADER:
        return False
    if not (msg_id.isascii() and msg_id.isprintable()):  # it is stored: text every store keeps as sent
        return False
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or abs(now - int(stamp)) > TOLERANCE:
        return False
    try:
        key = secret_key(secret) if secret else _DUMMY_KEY
    except (binascii.Error, ValueError):
        key = _DUMMY_KEY
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ok = False
    for part in given.split(" "):
        version, _, sig = part.partition(",")
        if version != "v1":
            continue
        try:
            ok |= hmac.compare_digest(expected, base64.b64decode(sig, validate=True))
        except (binascii.Error, ValueError):
            continue
    return ok and secret is not None


Read = Callable[..., Awaitable[Any]]  # read(fn, *args): fn(conn, *args) on the store, off the event loop


class Checks:
    """What every trigger request goes through, on the active instance and on a standby alike."""

    def __init__(self, read: Read, now: Callable[[], float] = time.time):
        self.read = read
        self.now = now  # wall-clock time: signatures are stamped with it
        self.known: dict[str, trigger.Device] = {}  # last copy read: used only while the store fails
        self.recent: dict[str, collections.deque[float]] = {}  # device -> monotonic times of authentic requests

    def routes(self) -> list[web.RouteDef]:
        from aiohttp import web

        return [web.post("/trigger/{device}", self.signed_press),
                web.post("/trigger/{device}/heartbeat", self.heartbeat),
                web.get("/trigger/{device}/state", self.state),
                web.post("/trigger/{device}/{token}", self.capability_press),
                web.get("/trigger/{device}/{token}", self.capability_press)]

    async def _body(self, request: web.Request) -> bytes | None:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return None
        body = await request.content.read(MAX_BODY + 1)
        return None if len(body) > MAX_BODY else body

    async def _device(self, device_id: str) -> trigger.Device | None:
        from .store import StoreError

        wanted = device_id if _ID.fullmatch(device_id) else ""  # the same read either way
        try:
            d = await self.read(trigger.device, wanted)
        except StoreError:
            return self.known.get(wanted)
        if d is None:
            self.known.pop(wanted, None)
        else:
            self.known[wanted] = d
        return d if d is not None and d.active else None

    async def _signed(self, request: web.Request) -> tuple[trigger.Device | None, bytes | None, int]:
        """(device, body, 0) when authentic, else (None, None, status)."""
        body = await self._body(request)
        if body is None:
            return None, None, 413
        d = await self._device(request.match_info["device"])
        if not verify(d.secret if d and d.kind == "signed" else None, request.headers, body, self.now()):
            return None, None, 401
        assert d is not None
        if self._limited(d.id):
            return None, None, 429
        return d, body, 0

    def _limited(self, device_id: str) -> bool:
        """Count one authentic request; True if the device is over its rate."""
        now = time.monotonic()
        q = self.recent.setdefault(device_id, collections.deque())
        while q and now - q[0] > RATE_WINDOW:
            q.popleft()
        if len(q) >= RATE:
            return True
        q.append(now)
        return False

    async def _capability(self, request: web.Request) -> tuple[trigger.Device | None, int]:
        """(device, 0) when the URL's token is the device's, else (None, status)."""
        if await self._body(request) is None:
            return None, 413
        d = await self._device(request.match_info["device"])
        given = hashlib.sha256(request.match_info["token"].encode(errors="replace")).hexdigest()
        want = d.token_hash if d and d.kind == "capability" and d.token_hash else _DUMMY_HASH
        if d is None or not hmac.compare_digest(given, want) or want == _DUMMY_HASH:
            return None, 401
        return (None, 429) if self._limited(d.id) else (d, 0)

    async def signed_press(self, request: web.Request) -> web.Response:
        from aiohttp import web

        d, body, status = await self._signed(request)
        if d is None:
            return web.Response(status=status)
        if body and body.strip():
            try:
                if not isinstance(json.loads(body), dict):
                    raise ValueError("not an object")
            except ValueError:  # UnicodeDecodeError included
                return web.Response(status=400)
        return await self._press(d, request.headers["webhook-id"])

    async def capability_press(self, request: web.Request) -> web.Response:
        from aiohttp import web

        d, status = await self._capability(request)
        return web.Response(status=status) if d is None else await self._press(d, None)

    async def _press(self, d: trigger.Device, webhook_id: str | None) -> web.Response:
        raise NotImplementedError

    async def heartbeat(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    async def state(self, request: web.Request) -> web.Response:
        raise NotImplementedError


class Triggers(Checks):
    """The active instance: a press is stored and raised here (handlers/trigger.py)."""

    def __init__(self, engine: Engine, now: Callable[[], float] = time.time):
        super().__init__(engine.store.read, now)  # type: ignore[union-attr]
        self.engine = engine
        self.unsaved_at: dict[str, float] = {}  # device -> when its unsaved alarm was last sent directly
        if engine.settings.on_postgres:  # presses that reached a standby (StandbyTriggers), handed over once
            self._relay = asyncio.get_running_loop().create_task(self._take_relayed())

    async def _take_relayed(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await relay.drain(_UntilStopped(self.engine), "trigger", self._relayed)

    async def _relayed(self, body: str, _headers: dict[str, str]) -> bool:
        from .store import StoreError

        data = json.loads(body)
        try:
            await self.engine.perform(trigger.press, data["device"], data.get("webhook_id"))
        except StoreError:
            return False  # stays in the relay table; tried again once the store writes
        return True

    async def heartbeat(self, request: web.Request) -> web.Response:
        from aiohttp import web

        d, _, status = await self._signed(request)
        if d is None:
            return web.Response(status=status)
        try:
            answer = await self.engine.perform(trigger.heartbeat, d.id)
        except Exception:
            log.exception("trigger %s: heartbeat not stored", d.id)
            return web.Response(status=503, headers={"Retry-After": RETRY_AFTER})
        return web.json_response(answer) if answer else web.Response(status=401)

    async def state(self, request: web.Request) -> web.Response:
        from aiohttp import web

        d, _, status = await self._signed(request)
        if d is None:
            return web.Response(status=status)
        try:
            return web.json_response(await self.engine.perform(trigger.state, d.id))
        except Exception:
            log.exception("trigger %s: state unknown", d.id)
            return web.Response(status=503, headers={"Retry-After": RETRY_AFTER})

    async def _press(self, d: trigger.Device, webhook_id: str | None) -> web.Response:
        from aiohttp import web

        try:
            pressed = await self.engine.perform(trigger.press, d.id, webhook_id)
        except Exception as e:  # the store failing, or a fault in the press: the alarm still goes out
            log.exception("trigger %s: press not stored; alarm sent directly", d.id)
            await self._unsaved(d, str(e) or type(e).__name__)
            return web.Response(status=503, headers={"Retry-After": RETRY_AFTER})
        if pressed is None:
            return web.Response(status=401)
        log.info("trigger %s: press %s stored (alert %s, pressed %s%s%s)", d.id, pressed.press, pressed.alert,
                 pressed.count, ", a test" if pressed.test else "", ", a retry" if pressed.again else "")
        return web.json_response(pressed.body(), status=202)

    async def _unsaved(self, d: trigger.Device, error: str) -> None:
        """The not-stored path: the first tier and the admins told directly, once per device per join window."""
        e = self.engine
        now = e.clock.now()
        if now - self.unsaved_at.get(d.id, float("-inf")) < trigger.JOIN_WINDOW:
            return
        self.unsaved_at[d.id] = now
        codeword = e.book.codewords.get(d.codeword)
        meaning = codeword.meaning if codeword else f"codeword '{d.codeword}' is gone"
        text = (f"URGENT - NOT SAVED: panic button pressed ({meaning}). "
                f"Panic button: {e.directory.branch_name(d.branch)}, {d.place}, at {e.clock.local().strftime('%H:%M')}. "
                f"saferbot cannot save to its database right now, so this alert has no buttons and will not "
                f"escalate: act on this message and go there now.")
        notify = e.book.ladders[codeword.ladder].tiers[0].notify if codeword else ()
        try:
            await e.emergency.alarm_unsaved(f"trigger:{d.id}:{now}", text, notify, d.branch, error)
        except Exception:
            log.exception("trigger %s: could not send the unsaved alarm", d.id)


class _UntilStopped:
    """The engine's store as the relay drain sees it: once the engine stops (Engine.stop clears
    `started`), the drain's next look ends it quietly instead of touching a closed store."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._check()
        return await self.engine.store.read(fn, *args)  # type: ignore[union-attr]

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        self._check()
        return await self.engine.store.run(fn, *args)  # type: ignore[union-attr]

    def _check(self) -> None:
        if not self.engine.started.is_set():
            raise asyncio.CancelledError


class StandbyTriggers(Checks):
    """A standby (PostgreSQL): a press is checked exactly as the active instance would, stored in the
    relay table for it (once per webhook id, bot/relay.py), and only then answered 202; the active
    instance raises it once. Heartbeats and the state are the active instance's to answer: 503."""

    def __init__(self, settings: Settings, now: Callable[[], float] = time.time):
        super().__init__(self._run, now)
        self.settings = settings

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(conn, *args) on a connection of its own: a press reaching a standby is rare, and a standby
        that takes over leaves nothing open behind it."""
        return await asyncio.to_thread(self._once, fn, *args)

    def _once(self, fn: Callable[..., Any], *args: Any) -> Any:
        from .store import pg

        conn = pg.Connection(self.settings.db)
        try:
            return fn(conn, *args)
        finally:
            conn.close()

    async def _press(self, d: trigger.Device, webhook_id: str | None) -> web.Response:
        from aiohttp import web

        from .store import StoreError

        key = f"trigger:{d.id}:{webhook_id or uuid.uuid4().hex}"
        body = json.dumps({"device": d.id, "webhook_id": webhook_id})
        try:
            await self._run(relay.put, key, "trigger", body, {}, time.time())
        except StoreError as e:
            log.warning("standby: a press of %s was not stored (%s); 503 so it comes again", d.id, type(e).__name__)
            return web.Response(status=503, headers={"Retry-After": RETRY_AFTER})
        return web.json_response({"relayed": True}, status=202)

    async def heartbeat(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.Response(status=503, headers={"Retry-After": RETRY_AFTER})

    state = heartbeat


def standby_routes(settings: Settings, active: Any = None) -> list[web.RouteDef]:
    """App.standby_routes: presses that reach a standby are kept for the active instance (PostgreSQL only;
    a SQLite standby shares no database it could keep them in)."""
    return StandbyTriggers(settings).routes() if settings.on_postgres else []


def routes(engine: Engine) -> list[web.RouteDef]:
    """App.http_routes: the trigger endpoints on the active instance's HTTP server."""
    return Triggers(engine).routes()
