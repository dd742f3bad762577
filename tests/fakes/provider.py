"""What the fake phone providers share: a server on 127.0.0.1 (any free port) that also calls back.

A provider answers a request at once and calls the bot back later (receipts, call outcomes): those
calls run as tasks, retried like the real providers' callbacks, and are cancelled on stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web


class FakeProvider:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        self._http = aiohttp.ClientSession()
        return self.url

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http:
            await self._http.close()
        if self._runner:
            await self._runner.cleanup()

    def later(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Call the bot back after answering (a task, cancelled on stop)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "start() first"
        return self._http
