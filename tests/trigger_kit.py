"""Shared parts for the panic-button tests: the engine's HTTP routes on 127.0.0.1 port 0, devices
registered in the store as `saferbot trigger add` does, and signed requests as a client sends them."""

from __future__ import annotations

import base64
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from bot.engine import Engine
from handlers import trigger


@dataclass
class Server:
    runner: web.AppRunner
    url: str
    http: aiohttp.ClientSession

    async def stop(self) -> None:
        await self.http.close()
        await self.runner.cleanup()


async def serve(engine: Engine) -> Server:
    """The engine's App.http_routes on a free port, as bot/health.py mounts them."""
    return await serve_routes([r for routes in engine.app.http_routes for r in routes(engine)])


async def serve_routes(routes: list) -> Server:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return Server(runner, f"http://127.0.0.1:{port}", aiohttp.ClientSession())


async def add(engine: Engine, name: str = "Central - front counter", *, kind: str = "signed",
              place: str = "front counter", codeword: str = "mr-brown", branch: str = "central") -> tuple[str, str]:
    from bot.commands.trigger import watch_from_here

    def both(c):
        added = trigger.add_device(c, engine.book, engine.service, name=name, branch=branch, place=place,
                                   codeword=codeword, kind=kind, by="dana", now=engine.clock.now())
        watch_from_here(c, engine.clock.now())
        return added

    return await engine.store.run(both)


def signed_headers(secret: str, body: bytes = b"", *, msg_id: str | None = None, at: float | None = None) -> dict:
    """Headers signed by the reference library (standardwebhooks), at wall-clock time `at`."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = datetime.fromtimestamp(int(time.time() if at is None else at), tz=UTC)
    sig = Webhook(secret).sign(msg_id, stamp, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(stamp.timestamp())), "webhook-signature": sig,
            "content-type": "application/json"}


def forged_secret() -> str:
    return "whsec_" + base64.b64encode(b"x" * 32).decode()


@pytest.fixture
async def rig(db, clock):
    """An engine on both stores with its trigger routes served: (harness, server). Import it to use it."""
    from tests.conftest import start_engine

    h = await start_engine(db, clock)
    server = await serve(h.engine)
    yield h, server
    await server.stop()
    await h.engine.stop()


def failing_presses(monkeypatch, engine: Engine) -> list[bool]:
    """Storing a press fails as a full disk would, while the returned flag's [0] is True."""
    real, failing = engine.store.run, [True]

    async def run(fn, *args):
        if failing[0] and getattr(args[0], "__name__", "") == "press":
            raise sqlite3.OperationalError("database or disk is full")
        return await real(fn, *args)

    monkeypatch.setattr(engine.store, "run", run)
    return failing
