"""The fake Telegram of the failover runs: each process's calls say which process made them.

Each process of a `Cluster` talks to it under its own path (`/run3/bot<token>/...`), so a send
from a process that lost its lease is seen (`by`, `sends_by`); `first` keeps every sent
message's text as it first arrived (an edit overwrites what the phone shows).
"""

from __future__ import annotations

import asyncio
import contextvars
import time

from aiohttp import web

from tests.fakes.telegram_api import FakeTelegram

_PARAMS = web.RequestKey("params", dict)
_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="")


class Wire(FakeTelegram):
    """The fake Telegram; `first` keeps every sent message's text as it first arrived.

    Each process of a `Cluster` talks to it under its own path (`/p3/bot<token>/...`), so every
    call says which process made it (`by`): a send from a process that lost its lease is seen.
    `on_send(caller)` runs as a send arrives, before it is answered (a test freezes a process there).
    """

    def __init__(self) -> None:
        super().__init__()
        self.first: list[tuple[int, str, float]] = []  # (chat, text shown, monotonic time)
        self.by: list[tuple[str, str, float, str, str]] = []  # (process tag, method, monotonic time, chat, text)
        self.on_send = None
        self.slow: dict[str, float] = {}  # chat -> seconds its next send hangs before it is answered

    async def start(self) -> str:
        url = await super().start()
        # the per-process prefix: aiohttp's router is frozen once running, so a second tiny app routes it
        app = web.Application()
        app.router.add_route("*", "/{caller}/bot{token}/{method}", self._tagged)
        self._tag_runner = web.AppRunner(app, access_log=None)
        await self._tag_runner.setup()
        site = web.TCPSite(self._tag_runner, "127.0.0.1", 0)
        await site.start()
        self.tagged_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return url

    async def stop(self) -> None:
        await super().stop()
        await self._tag_runner.cleanup()

    async def _tagged(self, request):
        _CALLER.set(request.match_info["caller"])
        method = request.match_info["method"]
        if method.lower() in ("sendmessage", "editmessagetext", "editmessagereplymarkup", "senddocument",
                              "sendphoto"):
            params = await self._params(request)
            self.by.append((_CALLER.get(), method.lower(), time.monotonic(), str(params.get("chat_id")),
                            str(params.get("text", ""))))
            if self.on_send is not None:
                self.on_send(_CALLER.get())
            hang = self.slow.pop(str(params.get("chat_id")), 0.0)
            if hang:
                await asyncio.sleep(hang)
        return await self._handle(request)

    async def _params(self, request) -> dict:
        if _PARAMS not in request:  # read once: the tagged route looks before the fake handles it
            request[_PARAMS] = await super()._params(request)
        return dict(request[_PARAMS])

    async def api_sendmessage(self, p: dict) -> dict:
        out = await super().api_sendmessage(p)
        chat = out["chat"]["id"]
        self.first.append((chat, self.messages[(chat, out["message_id"])].text, time.monotonic()))
        return out

    def sends_by(self, tag: str, after: float = 0.0) -> list[tuple[str, str, float, str, str]]:
        """Sends and edits that process `tag` made after a monotonic instant."""
        return [b for b in self.by if b[0] == tag and b[2] > after]

    def calls_after(self, at: float, methods: tuple[str, ...]) -> list:
        return [c for c in self.calls if c.at > at and c.method.lower() in methods]
