"""bot/listen.py in process: a port full of half-open connections still serves a real request.

A real aiohttp app behind `listen.Site` on 127.0.0.1, a cap of 8 connections and a 0.3 s
header timeout (sub-second, so the test is quick): 40 connections that never finish their
headers do not keep a real request out, and are closed once the timeout has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
from aiohttp import web

from bot import listen


def closed(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


async def test_a_real_request_gets_through_a_port_full_of_half_open_connections():
    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.add_routes([web.post("/hook", hello)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = listen.Site(runner, "127.0.0.1", 0, limits=listen.Limits(max_connections=8, header_timeout=0.3,
                                                                     body_timeout=0.3))
    await site.start()
    flood = []
    try:
        for _ in range(40):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", site.port))
            flood.append(s)
        await asyncio.sleep(0.1)
        for s in flood:
            with contextlib.suppress(OSError):
                s.send(b"POST /hook HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        await asyncio.sleep(0.05)
        assert sum(not closed(s) for s in flood) <= 8  # the cap holds
        async with aiohttp.ClientSession() as http, http.post(f"http://127.0.0.1:{site.port}/hook", data=b"x") as r:
            assert r.status == 200 and await r.text() == "hello"
        for _ in range(100):  # the header timeout closes what is left
            if all(closed(s) for s in flood):
                break
            await asyncio.sleep(0.05)
        assert all(closed(s) for s in flood)
    finally:
        for s in flood:
            s.close()
        await runner.cleanup()


def test_the_cap_follows_a_low_open_file_limit(monkeypatch):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _what: (1024, 1024))
    assert listen.Limits(max_connections=256).cap() == (1024 - listen.FD_RESERVE) // listen.PORTS_SHARE
    monkeypatch.setattr(resource, "getrlimit", lambda _what: (65536, 65536))
    assert listen.Limits(max_connections=256).cap() == 256
