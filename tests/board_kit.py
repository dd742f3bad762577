"""Shared by the board's tests: an engine with the board on, its routes on a real aiohttp server
(127.0.0.1, port 0), and a signed-in client per person."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.board.web import routes
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
