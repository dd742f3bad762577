"""A fake Telegram Bot API server on 127.0.0.1 for tests.

It speaks enough of the real protocol for python-telegram-bot: getMe, getUpdates
(long poll), setWebhook / deleteWebhook (then it POSTs updates to the webhook with
the secret header), sendMessage, sendPhoto, sendDocument, editMessageText,
editMessageCaption, answerCallbackQuery, setMyCommands. Bodies may be JSON,
form-encoded or multipart, as with the real server.

It renders HTML parse mode the way Telegram does (strictly: an unsupported tag or a
stray `<` or `&` is a 400 "can't parse entities"), so a test sees the text a phone
would show and the entities (bold, links) it would draw.

Faults: `fail(method, status, times, retry_after=...)` answers the next calls with an
error (429 with retry_after, 500, 403 ...); `slow(method, seconds, times)` delays
answers (`taken=True`: the call takes effect at once and only its answer is late, as when
Telegram took a message but the answer was lost); `block(user)` makes the user block the bot (403 from then on);
`outage()` / `outage(False)` makes the whole API answer 502 Bad Gateway (then recover).

Limits: `keep_limits()` makes it keep Telegram's flood limits as the Bot API FAQ gives
them: about one message a second per chat (a short burst of `chat_burst` is tolerated),
30 a second overall; beyond that a 429 with retry_after. Sends and edits both count.

    fake = FakeTelegram(); await fake.start()
    alice = fake.user(1001, "Alice")
    fake.say(alice, "/start CODE")
    await fake.wait_for(lambda: fake.inbox(1001))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
        "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
        "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote", "span": "spoiler",
        "tg-emoji": "custom_emoji"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z-]*)((?:\s+[a-zA-Z-]+(?:=(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>")
_ATTR = re.compile(r"([a-zA-Z-]+)(?:=(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
JSON_FIELDS = {"reply_markup", "commands", "scope", "allowed_updates", "link_preview_options", "entities",
               "caption_entities", "reply_parameters"}


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: float | None = None):
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def body(self) -> dict:
        out: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


def _u16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def render_html(source: str) -> tuple[str, list[dict]]:
    """Telegram's HTML parse mode: (the text shown, its entities), or ApiError 400."""
    out: list[str] = []
    stack: list[tuple[str, dict, int]] = []
    entities: list[dict] = []
    i = 0

    def err(why: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {why} at byte offset "
                             f"{len(source[:i].encode())}")

    while i < len(source):
        c = source[i]
        if c == "<":
            m = _TAG.match(source, i)
            if not m:
                raise err("unexpected character '<'")
            closing, tag, attrs = m.group(1), m.group(2).lower(), m.group(3)
            if tag not in TAGS:
                raise err(f"unsupported {'end' if closing else 'start'} tag \"{tag}\"")
            offset = _u16("".join(out))
            if closing:
                if not stack or stack[-1][0] != tag:
                    raise err(f"unmatched end tag \"{tag}\"")
                _, attr, start = stack.pop()
                if offset > start:
                    e = {"type": TAGS[tag], "offset": start, "length": offset - start}
                    if tag == "a":
                        e["url"] = attr.get("href", "")
                    entities.append(e)
            else:
                attr = {a.group(1).lower(): next((g for g in a.groups()[1:] if g is not None), "")
                        for a in _ATTR.finditer(attrs)}
                stack.append((tag, attr, offset))
            i = m.end()
        elif c == "&":
            m = _ENTITY.match(source, i)
            if not m:
                raise err("character entity expected after '&'")
            name = m.group(1)
            if name.startswith("#x"):
                out.append(chr(int(name[2:], 16)))
            elif name.startswith("#"):
                out.append(chr(int(name[1:])))
            else:
                out.append(_NAMED[name])
            i = m.end()
        else:
            out.append(c)
            i += 1
    if stack:
        raise err(f"can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    return "".join(out), sorted(entities, key=lambda e: e["offset"])


@dataclass
class FakeMessage:
    """A message the bot sent, as the phone shows it now."""

    message_id: int
    chat_id: int
    text: str  # what the person sees (markup rendered)
    entities: list[dict]
    buttons: list[list[dict]]  # inline keyboard rows of {"text", "callback_data"}
    sent_at: float
    kind: str = "text"  # text | photo | document
    file_name: str = ""
    file_bytes: bytes = b""
    edits: list[tuple[float, str]] = field(default_factory=list)
    shown_at: float = field(default_factory=time.monotonic)  # when it appeared (monotonic, for benchmarks)

    @property
    def labels(self) -> list[str]:
        return [b["text"] for row in self.buttons for b in row]

    def json(self, bot: dict, chat: dict) -> dict:
        m: dict[str, Any] = {"message_id": self.message_id, "from": bot, "chat": chat, "date": int(self.sent_at)}
        if self.kind == "text":
            m["text"] = self.text
            if self.entities:
                m["entities"] = self.entities
        else:
            if self.text:
                m["caption"] = self.text
            if self.kind == "photo":
                m["photo"] = [{"file_id": f"photo{self.message_id}", "file_unique_id": f"p{self.message_id}",
                               "width": 100, "height": 100}]
            else:
                m["document"] = {"file_id": f"doc{self.message_id}", "file_unique_id": f"d{self.message_id}",
                                 "file_name": self.file_name}
        if self.buttons:
            m["reply_markup"] = {"inline_keyboard": self.buttons}
        if self.edits:
            m["edit_date"] = int(self.edits[-1][0])
        return m


@dataclass
class Call:
    method: str
    params: dict
    at: float
    status: int = 200


@dataclass
class Fault:
    method: str
    status: int
    times: int
    retry_after: float | None = None
    description: str = ""


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token", username: str = "LibrarySaferBot"):
        self.token = token
        self.bot = {"id": 123456, "is_bot": True, "first_name": "Saferbot", "username": username,
                    "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False}
        self.url = ""
        self.users: dict[int, dict] = {}
        self.chats: dict[int, dict] = {}  # chats the bot can write to
        self.blocked: set[int] = set()
        self.updates: list[dict] = []
        self.messages: dict[tuple[int, int], FakeMessage] = {}
        self.calls: list[Call] = []
        self.commands: dict[tuple[str, int | None], list[dict]] = {}  # (scope type, chat) -> commands
        self.callbacks: dict[str, dict] = {}  # id -> {"at", "answered_at"}
        self.webhook: dict | None = None
        self.webhook_posts: list[tuple[int, int]] = []  # (update_id, status) pushed to the webhook
        self.faults: list[Fault] = []
        self.delays: list[list] = []  # [method, seconds, times, taken first]
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._closing = False
        self.down = False  # outage switch: every call answers 502
        self.limited: list[tuple[str, int]] = []  # (method, chat) answered 429 by the flood limits
        self._limits: tuple[float, float, int] | None = None  # (per chat interval, chat burst, overall per s)
        self._buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)
        self._recent: list[float] = []  # monotonic times of sends/edits in the last second

    # --- server ----------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._closing = True
        if self._pusher:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pusher
        if self._session:
            await self._session.close()
        self._new_update.set()
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        self.calls.append(call)
        delay, taken = self._take_delay(method)
        if delay and not taken:
            await asyncio.sleep(delay)
        if self.down:
            call.status = 502
            return web.Response(status=502, text="Bad Gateway")
        try:
            self._flood_check(method, params)
            fault = self._take_fault(method)
            if fault:
                raise ApiError(fault.status, fault.description or _DESCRIPTIONS.get(fault.status, "Error"),
                               fault.retry_after)
            handler = getattr(self, "api_" + method.lower(), None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
            if delay and taken:
                await asyncio.sleep(delay)  # done; only the answer is late (a client timeout may give up)
        except ApiError as e:
            call.status = e.code
            return web.json_response(e.body(), status=e.code)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
            return params
        if request.can_read_body:
            form = await request.post()
            for k, v in form.items():
                if isinstance(v, web.FileField):
                    params[k] = {"filename": v.filename, "bytes": v.file.read()}
                elif k in JSON_FIELDS:
                    params[k] = json.loads(v)
                else:
                    params[k] = v
        return params

    def _take_fault(self, method: str) -> Fault | None:
        for f in self.faults:
            if f.method.lower() in (method.lower(), "*") and f.times > 0:
                f.times -= 1
                return f
        return None

    def _take_delay(self, method: str) -> tuple[float, bool]:
        for d in self.delays:
            if d[0].lower() in (method.lower(), "*") and d[2] > 0:
                d[2] -= 1
                return d[1], d[3]
        return 0.0, False

    # --- faults ----------------------------------------------------------------
    def fail(self, method: str, status: int, times: int = 1, *, retry_after: float | None = None,
             description: str = "") -> None:
        """Answer the next `times` calls of `method` ('*' for any) with an error."""
        if status == 429 and retry_after is None:
            retry_after = 1
        if status == 429 and not description:
            description = f"Too Many Requests: retry after {retry_after}"
        self.faults.append(Fault(method, status, times, retry_after, description))

    def slow(self, method: str, seconds: float, times: int = 1, *, taken: bool = False) -> None:
        self.delays.append([method, seconds, times, taken])

    def block(self, user_id: int) -> None:
        self.blocked.add(user_id)

    def outage(self, down: bool = True) -> None:
        """Telegram goes away (every call answers 502) or comes back."""
        self.down = down

    def keep_limits(self, per_chat_interval: float = 1.0, chat_burst: float = 2, overall: int = 30) -> None:
        """Answer 429 (with retry_after) beyond Telegram's flood limits."""
        self._limits = (per_chat_interval, chat_burst, overall)

    def _flood_check(self, method: str, p: dict) -> None:
        if self._limits is None or method.lower() not in _COUNTED or "chat_id" not in p:
            return
        interval, burst, overall = self._limits
        now = time.monotonic()
        self._recent = [t for t in self._recent if now - t < 1.0]
        chat = int(p["chat_id"])
        tokens, at = self._buckets.get(chat, (burst, now))
        tokens = min(burst, tokens + (now - at) / interval)
        if len(self._recent) >= overall:
            self.limited.append((method, chat))
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        if tokens < 1:
            wait = max(1, math.ceil((1 - tokens) * interval))
            self._buckets[chat] = (tokens, now)
            self.limited.append((method, chat))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
        self._buckets[chat] = (tokens - 1, now)
        self._recent.append(now)

    # --- people using Telegram -------------------------------------------------
    def user(self, user_id: int, first_name: str, last_name: str = "", username: str | None = None) -> dict:
        u = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            u["last_name"] = last_name
        if username:
            u["username"] = username
        self.users[user_id] = u
        return u

    def group(self, chat_id: int, title: str) -> dict:
        chat = {"id": chat_id, "type": "group", "title": title}
        self.chats[chat_id] = chat
        return chat

    def say(self, user: dict, text: str, chat: dict | None = None) -> int:
        """The user sends `text` to the bot (a private chat unless `chat` is a group)."""
        if chat is None:
            chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
            self.chats[user["id"]] = chat
            self.blocked.discard(user["id"])
        msg: dict[str, Any] = {"message_id": next(self._message_ids), "from": user, "chat": chat,
                               "date": int(time.time()), "text": text}
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": _u16(text.split(" ", 1)[0])}]
        return self._push({"message": msg})

    def press(self, user: dict, message: FakeMessage, label: str) -> str:
        """The user taps the button `label` on `message`; returns the callback query id."""
        data = next((b["callback_data"] for row in message.buttons for b in row if b["text"] == label), None)
        if data is None:
            raise AssertionError(f"no '{label}' button on message {message.message_id}: {message.labels}")
        qid = str(next(self._callback_ids) + 9_000_000)
        self.callbacks[qid] = {"at": time.monotonic(), "answered_at": None}
        chat = self.chats.get(message.chat_id, {"id": message.chat_id, "type": "private"})
        self._push({"callback_query": {"id": qid, "from": user, "chat_instance": f"ci{message.chat_id}",
                                       "message": message.json(self.bot, chat), "data": data}})
        return qid

    def _push(self, body: dict) -> int:
        uid = next(self._update_ids)
        self.updates.append({"update_id": uid, **body})
        self._new_update.set()
        if self.webhook and (self._pusher is None or self._pusher.done()):
            self._pusher = asyncio.create_task(self._push_webhook())
        return uid

    async def _push_webhook(self) -> None:
        """Deliver queued updates to the webhook, in order, with the secret header."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        while self.webhook and self.updates:
            update = self.updates[0]
            headers = {}
            if self.webhook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
            try:
                async with self._session.post(self.webhook["url"], json=update, headers=headers) as r:
                    status = r.status
            except aiohttp.ClientError:
                status = 0
            self.webhook_posts.append((update["update_id"], status))
            if status == 200:
                self.updates.pop(0)
            else:
                await asyncio.sleep(0.05)

    # --- what a phone shows ----------------------------------------------------
    def inbox(self, chat_id: int) -> list[FakeMessage]:
        """The bot's messages in a chat, oldest first, as they look now."""
        return sorted((m for (c, _), m in self.messages.items() if c == chat_id), key=lambda m: m.message_id)

    def texts(self, chat_id: int) -> list[str]:
        return [m.text for m in self.inbox(chat_id)]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(0.01)
        raise AssertionError("timed out waiting for the fake Telegram")

    # --- Bot API methods -------------------------------------------------------
    async def api_getme(self, p: dict) -> dict:
        return self.bot

    async def api_getupdates(self, p: dict) -> list[dict]:
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(p.get("offset") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = int(p.get("limit") or 100)
        deadline = time.monotonic() + float(p.get("timeout") or 0)
        while not self.updates and time.monotonic() < deadline and not self._closing:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
        allowed = p.get("allowed_updates")
        out = [u for u in self.updates[:limit]
               if not allowed or any(k in u for k in allowed)]
        return out

    async def api_setwebhook(self, p: dict) -> bool:
        self.webhook = {"url": p["url"], "secret_token": p.get("secret_token")}
        if p.get("drop_pending_updates") in (True, "true", "True"):
            self.updates.clear()
        if self.updates:
            self._pusher = asyncio.create_task(self._push_webhook())
        return True

    async def api_deletewebhook(self, p: dict) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates") in (True, "true", "True"):
            self.updates.clear()
        return True

    async def api_getwebhookinfo(self, p: dict) -> dict:
        return {"url": self.webhook["url"] if self.webhook else "", "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    async def api_setmycommands(self, p: dict) -> bool:
        scope = p.get("scope") or {"type": "default"}
        commands = p.get("commands") or []
        for c in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]) or not 1 <= len(c["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        chat = scope.get("chat_id")
        if chat is not None:
            chat = int(chat)
            if chat not in self.chats:
                raise ApiError(400, "Bad Request: chat not found")
        self.commands[(scope["type"], chat)] = commands
        return True

    def menu(self, chat_id: int) -> list[str]:
        """The command menu a person sees in their private chat."""
        cmds = self.commands.get(("chat", chat_id), self.commands.get(("default", None), []))
        return [c["command"] for c in cmds]

    async def api_answercallbackquery(self, p: dict) -> bool:
        q = self.callbacks.get(str(p.get("callback_query_id")))
        if q is None or q["answered_at"] is not None:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        q["answered_at"] = time.monotonic()
        return True

    def _chat(self, p: dict) -> dict:
        chat_id = int(p["chat_id"])
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _markup(self, p: dict) -> list[list[dict]]:
        markup = p.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        rows = (markup or {}).get("inline_keyboard", [])
        for row in rows:
            for b in row:
                if len(b.get("callback_data", "").encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return rows

    def _render(self, p: dict, key: str, limit: int) -> tuple[str, list[dict]]:
        raw = str(p.get(key) or "")
        if p.get("parse_mode", "").upper() == "HTML":
            text, entities = render_html(raw)
        else:
            text, entities = raw, []
        if key == "text" and not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _u16(text) > limit:
            raise ApiError(400, f"Bad Request: message {'caption' if key == 'caption' else ''} is too long"
                           .replace("  ", " "))
        return text, entities

    async def api_sendmessage(self, p: dict) -> dict:
        chat = self._chat(p)
        text, entities = self._render(p, "text", 4096)
        m = FakeMessage(next(self._message_ids), chat["id"], text, entities, self._markup(p), time.time())
        self.messages[(chat["id"], m.message_id)] = m
        return m.json(self.bot, chat)

    async def _send_file(self, p: dict, kind: str) -> dict:
        chat = self._chat(p)
        text, entities = self._render(p, "caption", 1024)
        f = p.get(kind)
        if not isinstance(f, dict):
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        m = FakeMessage(next(self._message_ids), chat["id"], text, entities, self._markup(p), time.time(),
                        kind=kind, file_name=f["filename"] or "", file_bytes=f["bytes"])
        self.messages[(chat["id"], m.message_id)] = m
        return m.json(self.bot, chat)

    async def api_sendphoto(self, p: dict) -> dict:
        return await self._send_file(p, "photo")

    async def api_senddocument(self, p: dict) -> dict:
        return await self._send_file(p, "document")

    def _existing(self, p: dict) -> tuple[dict, FakeMessage]:
        chat = self._chat(p)
        m = self.messages.get((chat["id"], int(p["message_id"])))
        if m is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat, m

    async def api_editmessagetext(self, p: dict) -> dict:
        chat, m = self._existing(p)
        if m.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._render(p, "text", 4096)
        buttons = self._markup(p)
        if text == m.text and entities == m.entities and buttons == m.buttons:
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply "
                                "markup are exactly the same as a current content and reply markup of the message")
        m.text, m.entities, m.buttons = text, entities, buttons
        m.edits.append((time.time(), text))
        return m.json(self.bot, chat)

    async def api_editmessagecaption(self, p: dict) -> dict:
        chat, m = self._existing(p)
        text, entities = self._render(p, "caption", 1024)
        buttons = self._markup(p)
        if text == m.text and buttons == m.buttons:
            raise ApiError(400, "Bad Request: message is not modified")
        m.text, m.entities, m.buttons = text, entities, buttons
        m.edits.append((time.time(), text))
        return m.json(self.bot, chat)


_COUNTED = {"sendmessage", "sendphoto", "senddocument", "editmessagetext", "editmessagecaption"}
_DESCRIPTIONS = {400: "Bad Request", 403: "Forbidden: bot was blocked by the user", 404: "Not Found",
                 500: "Internal Server Error", 502: "Bad Gateway"}
