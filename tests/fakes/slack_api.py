"""A fake Slack: the Web API methods saferbot uses plus a Socket Mode websocket, on 127.0.0.1.

    fake = FakeSlack(users={"U_ALICE", "U_BOB"})
    await fake.start()                      # fake.api_url -> SAFERBOT_SLACK_API_URL
    await fake.connected.wait()             # the bot opened the Socket Mode websocket
    env = await fake.dm("U_ALICE", "Is Mr Brown in today?")  # an events_api envelope
    await fake.acked(env)                   # the bot acked it
    fake.seen("U_BOB")                      # the messages in Bob's DM with the bot, edits applied

Fault injection: `fake.fail("chat.postMessage", status=429, retry_after=1, times=3)`,
`fake.fail(..., status=500)`, `fake.fail(..., error="channel_not_found")`,
`fake.slow("chat.update", 2.0)`. Every call is recorded in `fake.calls`.

Unacknowledged envelopes: like Slack, the fake keeps every envelope the bot has not
acked (`fake.unacked`) and sends it again, with `retry_attempt` + 1, when the bot next
connects (e.g. after a crash), or on `await fake.redeliver()`. Real Slack retries Events
API deliveries this way; for a button press or slash command it shows the person an
error instead, and they try again: the fake re-sends those too, so tests can check that
a repeat acts once.
`fake.keep_limits()` keeps Slack's posting limit: about one message a second per channel
(a short burst tolerated), beyond which chat.postMessage / chat.update answer 429 with
Retry-After. Each message records `shown_at` (monotonic) for benchmarks.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UBOT"
TEAM = "T0001"


@dataclass
class Fault:
    method: str
    status: int = 200
    error: str = ""
    retry_after: float | None = None
    times: int = 1
    delay: float = 0.0


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict]
    updates: int = 0
    shown_at: float = field(default_factory=time.monotonic)
    metadata: dict | None = None
    ephemeral_for: str | None = None
    history: list[str] = field(default_factory=list)

    @property
    def buttons(self) -> list[dict]:
        return [el for b in self.blocks if b.get("type") == "actions" for el in b.get("elements", [])]

    @property
    def shown(self) -> str:
        """The text a person reads: the sections' text."""
        parts = [b["text"]["text"] for b in self.blocks if b.get("type") == "section"]
        return "\n".join(parts) if parts else self.text


class FakeSlack:
    def __init__(self, users: set[str] | None = None):
        self.users: set[str] = set(users or ())
        self.channels: set[str] = set()  # public/private channels the bot is in
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self.views: dict[str, dict] = {}  # view id -> modal
        self.homes: dict[str, dict] = {}  # user -> published home view
        self.faults: list[Fault] = []
        self.acks: dict[str, dict] = {}  # envelope id -> ack frame
        self.ack_times: dict[str, float] = {}
        self.sent_at: dict[str, float] = {}
        self.triggers: dict[str, float] = {}  # trigger id -> issued (monotonic)
        self.uploads: list[dict] = []
        self.connected = asyncio.Event()
        self.connections = 0  # Socket Mode connections opened so far (a restarted bot opens another)
        self.unacked: dict[str, dict] = {}  # envelope id -> frame, until the bot acks it
        self.sockets: list[web.WebSocketResponse] = []
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._ack_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._limits: tuple[float, float] | None = None  # (per channel interval, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self.limited: list[tuple[str, str]] = []  # (method, channel) answered 429

    def keep_limits(self, per_channel_interval: float = 1.0, burst: float = 2) -> None:
        """chat.postMessage / chat.update beyond about one a second per channel: 429 with Retry-After."""
        self._limits = (per_channel_interval, burst)

    def _flood(self, method: str, args: dict) -> float | None:
        """Seconds to wait if this call is over the limit, else None (and it counts)."""
        if self._limits is None or method not in ("chat.postMessage", "chat.update"):
            return None
        interval, burst = self._limits
        channel = self._channel(str(args.get("channel", ""))) or str(args.get("channel", ""))
        now = time.monotonic()
        tokens, at = self._buckets.get(channel, (burst, now))
        tokens = min(burst, tokens + (now - at) / interval)
        if tokens < 1:
            self._buckets[channel] = (tokens, now)
            self.limited.append((method, channel))
            return max(1, math.ceil((1 - tokens) * interval))
        self._buckets[channel] = (tokens - 1, now)
        return None

    # --- server --------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/ws", self._ws), web.post("/upload/{file}", self._upload),
                        web.route("*", "/api/{method}", self._api)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def dm_channel(self, user: str) -> str:
        return "D" + user[1:]

    # --- fault injection -----------------------------------------------------------
    def fail(self, method: str, *, status: int = 200, error: str = "", retry_after: float | None = None,
             times: int = 1) -> None:
        if status == 429 and not error:
            error = "ratelimited"
        self.faults.append(Fault(method, status, error or ("internal_error" if status >= 500 else ""),
                                 retry_after, times))

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        self.faults.append(Fault(method, delay=seconds, times=times))

    def _fault(self, method: str) -> Fault | None:
        for f in self.faults:
            if f.method == method and f.times > 0:
                f.times -= 1
                return f
        return None

    # --- Web API --------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.text()
            if request.content_type == "application/json":
                args.update(json.loads(raw or "{}"))
            else:
                args.update(dict(parse_qsl(raw)))
        for key in ("blocks", "view", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        self.calls.append(Call(method, args, time.monotonic()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or args.get("token", "")
        want = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != want:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        wait = self._flood(method, args)
        if wait is not None:
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(wait)})
        fault = self._fault(method)
        if fault and fault.delay:
            await asyncio.sleep(fault.delay)
        elif fault:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.status >= 500:
                return web.Response(status=fault.status, text="upstream exploded", headers=headers)
            return web.json_response({"ok": False, "error": fault.error}, status=fault.status, headers=headers)
        handler = getattr(self, "api_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        result = handler(args)
        if "error" in result:
            return web.json_response({"ok": False, **result})
        return web.json_response({"ok": True, **result})

    def _channel(self, channel: str) -> str | None:
        """The real channel for a post: a user id opens the app DM."""
        if channel in self.users:
            return self.dm_channel(channel)
        if channel.startswith("D") and "U" + channel[1:] in self.users:
            return channel
        return channel if channel in self.channels else None

    def _ts_next(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def api_auth_test(self, args: dict) -> dict:
        return {"url": "https://fake.slack.com/", "team": "Fake Libraries", "user": "saferbot", "team_id": TEAM,
                "user_id": BOT_USER, "bot_id": "BBOT", "is_enterprise_install": False}

    def api_apps_connections_open(self, args: dict) -> dict:
        return {"url": f"ws://127.0.0.1:{self.port}/ws"}

    def api_conversations_open(self, args: dict) -> dict:
        user = args.get("users", "")
        if user not in self.users:
            return {"error": "user_not_found"}
        return {"channel": {"id": self.dm_channel(user)}}

    def api_chat_postMessage(self, args: dict) -> dict:
        channel = self._channel(args.get("channel", ""))
        if channel is None:
            return {"error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"error": "no_text"}
        m = Message(channel, self._ts_next(), args.get("text", ""), args.get("blocks") or [])
        meta = args.get("metadata")
        m.metadata = json.loads(meta) if isinstance(meta, str) else meta
        self.messages.append(m)
        return {"channel": channel, "ts": m.ts, "message": {"text": m.text}}

    def api_conversations_history(self, args: dict) -> dict:
        """Newest first; message metadata only with include_all_metadata (as Slack does)."""
        channel = args.get("channel", "")
        if self._channel(channel) is None and not any(m.channel == channel for m in self.messages):
            return {"error": "channel_not_found"}
        with_meta = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        out = []
        for m in reversed([m for m in self.messages if m.channel == channel and not m.ephemeral_for]):
            item: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "bot_id": "BBOT"}
            if with_meta and m.metadata:
                item["metadata"] = m.metadata
            out.append(item)
        return {"messages": out[: int(args.get("limit") or 100)], "has_more": False}

    def api_chat_postEphemeral(self, args: dict) -> dict:
        channel = self._channel(args.get("channel", ""))
        if channel is None:
            return {"error": "channel_not_found"}
        user = args.get("user", "")
        if user not in self.users:
            return {"error": "user_not_in_channel"}
        m = Message(channel, self._ts_next(), args.get("text", ""), args.get("blocks") or [], ephemeral_for=user)
        self.messages.append(m)
        return {"message_ts": m.ts}

    def api_chat_update(self, args: dict) -> dict:
        for m in self.messages:
            if m.channel == args.get("channel") and m.ts == args.get("ts") and not m.ephemeral_for:
                m.history.append(m.shown)
                m.text = args.get("text", m.text)
                m.blocks = args.get("blocks") if args.get("blocks") is not None else m.blocks
                m.updates += 1
                return {"channel": m.channel, "ts": m.ts}
        return {"error": "message_not_found" if args.get("channel") else "channel_not_found"}

    def api_views_open(self, args: dict) -> dict:
        trigger = args.get("trigger_id", "")
        issued = self.triggers.get(trigger)
        if issued is None or time.monotonic() - issued > 3.0:
            return {"error": "expired_trigger_id"}
        view = dict(args.get("view") or {})
        view["id"] = f"V{next(self._ids):04d}"
        self.views[view["id"]] = view
        return {"view": view}

    def api_views_publish(self, args: dict) -> dict:
        user = args.get("user_id", "")
        if user not in self.users:
            return {"error": "user_not_found"}
        self.homes[user] = args.get("view") or {}
        return {"view": self.homes[user]}

    def api_files_getUploadURLExternal(self, args: dict) -> dict:
        fid = f"F{next(self._ids):04d}"
        self.uploads.append({"id": fid, "filename": args.get("filename"), "bytes": 0, "channel": None})
        return {"upload_url": f"http://127.0.0.1:{self.port}/upload/{fid}", "file_id": fid}

    def api_files_completeUploadExternal(self, args: dict) -> dict:
        files = args.get("files") or []
        for f in files:
            for u in self.uploads:
                if u["id"] == f.get("id"):
                    u["channel"] = args.get("channel_id")
        return {"files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        for u in self.uploads:
            if u["id"] == request.match_info["file"]:
                u["bytes"] = len(data)
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    # --- what people see ----------------------------------------------------------
    def seen(self, user: str, *, ephemeral: bool = False) -> list[Message]:
        """Messages in the user's DM with the bot (ephemerals shown to them anywhere, if asked)."""
        dm = self.dm_channel(user)
        return [m for m in self.messages
                if (m.channel == dm and not m.ephemeral_for) or (ephemeral and m.ephemeral_for == user)]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate, timeout: float = 5.0, what: str = "condition"):  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    # --- Socket Mode --------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": len(self.sockets),
                                      "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0001"}}))
        self.connections += 1
        self.connected.set()
        if self.unacked:
            await self.redeliver(ws)
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    frame = json.loads(msg.data)
                    if "envelope_id" in frame:
                        self.acks[frame["envelope_id"]] = frame
                        self.ack_times[frame["envelope_id"]] = time.monotonic()
                        self.unacked.pop(frame["envelope_id"], None)
                        self._ack_event.set()
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws

    async def envelope(self, kind: str, payload: dict, *, envelope_id: str | None = None,
                       retry_attempt: int = 0) -> str:
        """Send one Socket Mode envelope (events_api | interactive | slash_commands); returns its id."""
        assert self.sockets, "the bot is not connected"
        envelope_id = envelope_id or f"env-{next(self._ids)}"
        frame = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                 "accepts_response_payload": kind != "events_api", "retry_attempt": retry_attempt,
                 "retry_reason": "timeout" if retry_attempt else ""}
        self.sent_at[envelope_id] = time.monotonic()
        self.unacked[envelope_id] = frame
        await self.sockets[-1].send_str(json.dumps(frame))
        return envelope_id

    async def redeliver(self, ws: web.WebSocketResponse | None = None) -> list[str]:
        """Send every unacked envelope again (retry_attempt + 1), as Slack retries; returns their ids."""
        ws = ws or self.sockets[-1]
        ids = list(self.unacked)
        for envelope_id in ids:
            frame = self.unacked[envelope_id]
            frame.update(retry_attempt=frame["retry_attempt"] + 1, retry_reason="timeout")
            self.sent_at[envelope_id] = time.monotonic()
            await ws.send_str(json.dumps(frame))
        return ids

    async def acked(self, envelope_id: str, timeout: float = 3.0) -> dict:
        """The ack frame for an envelope; fails if none came within `timeout` (Slack's limit is 3 s)."""
        await self.wait_for(lambda: envelope_id in self.acks, timeout, f"ack of {envelope_id}")
        return self.acks[envelope_id]

    # --- payload builders (the same bodies Slack sends in either mode) -------------------------
    def event_body(self, event: dict, event_id: str | None = None) -> dict:
        return {"token": "x", "team_id": TEAM, "api_app_id": "A0001", "type": "event_callback",
                "event_id": event_id or f"Ev{next(self._ids):06d}", "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}], "event": event}

    def message_event(self, user: str, text: str, *, channel: str | None = None,
                      event_id: str | None = None, raw: bool = False, **extra: Any) -> dict:
        """A message as Slack sends it: typed `&`, `<`, `>` escaped, unless `raw` (text with Slack's tokens)."""
        channel = channel or self.dm_channel(user)
        text = text if raw else slack_escape(text)
        kind = "im" if channel.startswith("D") else "channel"
        event = {"type": "message", "user": user, "text": text, "channel": channel, "channel_type": kind,
                 "ts": self._ts_next(), "team": TEAM, **extra}
        return self.event_body(event, event_id)

    def home_event(self, user: str) -> dict:
        return self.event_body({"type": "app_home_opened", "user": user, "channel": self.dm_channel(user),
                                "tab": "home", "event_ts": self._ts_next()})

    def _trigger(self) -> str:
        trigger = f"{next(self._ids)}.trigger"
        self.triggers[trigger] = time.monotonic()
        return trigger

    def press_body(self, user: str, message: Message, button: dict) -> dict:
        return {"type": "block_actions", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
                "api_app_id": "A0001", "token": "x", "trigger_id": self._trigger(),
                "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
                "channel": {"id": message.channel}, "message": {"ts": message.ts, "text": message.text},
                "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "buttons0",
                             "value": button["value"], "text": button["text"], "action_ts": self._ts_next()}]}

    def command_body(self, user: str, text: str, channel: str | None = None) -> dict:
        channel = channel or self.dm_channel(user)
        text = slack_escape(text)
        return {"token": "x", "team_id": TEAM, "channel_id": channel,
                "channel_name": "directmessage" if channel.startswith("D") else "general", "user_id": user,
                "command": "/saferbot", "text": text, "api_app_id": "A0001", "trigger_id": self._trigger(),
                "response_url": f"http://127.0.0.1:{self.port}/response"}

    def submit_body(self, user: str, view_id: str, values: dict[str, str]) -> dict:
        view = self.views[view_id]
        state: dict[str, dict] = {}
        for block in view["blocks"]:
            if block.get("type") != "input":
                continue
            raw = values.get(block["block_id"])
            el = block["element"]
            if el["type"] in ("static_select", "radio_buttons"):
                entry = {"type": el["type"], "selected_option": ({"value": raw} if raw else None)}
            else:
                entry = {"type": el["type"], "value": raw}
            state[block["block_id"]] = {el["action_id"]: entry}
        return {"type": "view_submission", "team": {"id": TEAM}, "user": {"id": user, "team_id": TEAM},
                "api_app_id": "A0001", "token": "x", "trigger_id": self._trigger(),
                "view": {**view, "state": {"values": state}, "hash": "h1"}}

    # --- user actions in Socket Mode -----------------------------------------------------
    async def dm(self, user: str, text: str, **kw: Any) -> str:
        return await self.envelope("events_api", self.message_event(user, text, **kw))

    async def press(self, user: str, label: str, message: Message | None = None) -> str:
        """Press the button labelled `label` on the user's newest message that has it."""
        candidates = [message] if message else list(reversed(self.seen(user, ephemeral=True)))
        for m in candidates:
            for b in m.buttons:
                if b["text"]["text"].lower() == label.lower():
                    return await self.envelope("interactive", self.press_body(user, m, b))
        raise AssertionError(f"{user} has no '{label}' button")

    async def command(self, user: str, text: str, channel: str | None = None) -> str:
        return await self.envelope("slash_commands", self.command_body(user, text, channel))

    async def submit(self, user: str, view_id: str, values: dict[str, str]) -> str:
        return await self.envelope("interactive", self.submit_body(user, view_id, values))


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers for an HTTP-mode request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def post_signed(url: str, payload: dict, *, kind: str = "event", secret: str = SIGNING_SECRET,
                      timestamp: int | None = None, retry_num: int | None = None) -> tuple[int, str]:
    """POST a payload to a bot in HTTP mode as Slack would: events as JSON, the rest form-encoded."""
    if kind == "event":
        body, ctype = json.dumps(payload), "application/json"
    elif kind == "interactive":
        body, ctype = urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    else:
        body, ctype = urlencode(payload), "application/x-www-form-urlencoded"
    headers = {"Content-Type": ctype, **sign(body, secret, timestamp)}
    if retry_num is not None:
        headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
    async with aiohttp.ClientSession() as session, session.post(url, data=body.encode(), headers=headers) as r:
        return r.status, await r.text()
