"""Shared by the board's tests: an engine with the board on, its routes on a real aiohttp server
(127.0.0.1, port 0), and a signed-in client per person."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.board.pages import routes
from tests.conftest import Harness

LINK = re.compile(r"(https?://\S+/board/login\?t=(\S+))")
URL = "http://board.example.org"  # the proxy's address; https: see test_secure_cookie_behind_https


def link_in(text: str) -> str:
    m = LINK.search(text)
    assert m, f"no board link in {text!r}"
    return m.group(2)


@dataclass
class Desk:
    harness: Harness
    server: TestServer
    clients: list[TestClient]

    async def client(self) -> TestClient:
        c = TestClient(self.server, cookie_jar=aiohttp.CookieJar(unsafe=True))
        await c.start_server()
        self.clients.append(c)
        return c

    async def token(self, who: str) -> str:
        await self.harness.say(who, "board")
        return link_in(self.harness.last(who).text)

    async def sign_in(self, who: str) -> TestClient:
        c = await self.client()
        r = await c.post("/board/login", data={"t": await self.token(who)}, allow_redirects=False)
        assert r.status == 303, await r.text()
        return c

    async def csrf(self, c: TestClient) -> str:
        page = await (await c.get("/board")).text()
        return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
        await self.server.close()


async def open_desk(harness: Harness) -> Desk:
    app = web.Application()
    app.add_routes(routes(harness.engine))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return Desk(harness, server, [])


class Events:
    """A board's event stream, read as a browser's EventSource would."""

    def __init__(self, resp):
        self.resp = resp

    async def next(self, timeout: float = 20.0) -> dict:
        """The next `board` event's data (pings and other events skipped)."""
        import asyncio
        import json

        async def read() -> dict:
            event, data = "message", []
            while True:
                line = (await self.resp.content.readline()).decode()
                if not line:
                    raise AssertionError("the stream ended")
                line = line.rstrip("\r\n")
                if not line:
                    if event == "board" and data:
                        return json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

        return await asyncio.wait_for(read(), timeout)

    async def until(self, predicate, timeout: float = 20.0) -> dict:
        """Events until one satisfies `predicate`; generous, as the machine may be loaded."""
        import asyncio

        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            ev = await self.next(max(0.1, end - loop.time()))
            if predicate(ev):
                return ev
