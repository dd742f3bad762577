"""PostgreSQL out of reach for longer than 2/3 of the lease: codewords are still answered.

Two `saferbot run` on one PostgreSQL schema reach it through a TCP proxy on 127.0.0.1 that the
test stops (every connection closed, new ones refused) and starts again. The active instance
cannot renew its lease and stops running ladders, timers and the outbox, but it keeps polling
Telegram: a codeword gets its cover reply, the first tier and the admins are told directly
(marked NOT SAVED), and the admins hear once that the database cannot be written. When the
database answers again the instance restarts; the update was never confirmed, so the active
instance then raises the real alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests import failover_kit as kit
from tests.test_intake_confirmed import until

STARTUP = kit.STARTUP


class Proxy:
    """127.0.0.1:port -> PostgreSQL, on its own thread and loop (the test's own queries block its loop);
    `cut()` closes every connection and refuses new ones, `restore()` listens again on the same port."""

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()
        self.silent = False  # connections stay open but nothing gets through (a network dropping packets)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _do(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> None:
        self._do(self._listen())

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            self.pipes.add(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if not self.silent:
                        dst.write(data)
                        await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.pipes -= {writer, up_writer}

    def cut(self) -> None:
        self._do(self._cut())

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.pipes):
            w.transport.abort()
        self.pipes.clear()

    def restore(self) -> None:
        if self.silent:
            self.silent = False
            self._do(self._cut())  # what was said into the silence is lost: those connections are dead
        self.start()

    def go_silent(self) -> None:
        self.silent = True

    def close(self) -> None:
        self._do(self._cut())
        self.loop.call_soon_threadsafe(self.loop.stop)


wire = kit.wire_fixture

def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@pytest.mark.parametrize("fault", ["refused", "silent"])
async def test_a_codeword_is_answered_while_postgresql_cannot_be_reached(tmp_path, schema, wire, fault):
    parts = urlsplit(schema.url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    cluster = kit.Cluster(tmp_path, wire, via(schema.url, proxy.port), ttl=1)
    scenario = kit.Scenario(cluster, random.Random(0))
    try:
        active = await kit.serving(cluster)
        standby = cluster.start()
        await until(lambda: cluster.standing_by(standby), "a standby", standby, timeout=STARTUP)

        proxy.cut() if fault == "refused" else proxy.go_silent()
        await until(lambda: "stops sending now" in active.output(), "the lease lapsing (2/3 of its ttl)", active)
        scenario.say("alice", kit.PHRASES[0])
        alice, bob, dana = (kit.TG[k] for k in ("alice", "bob", "dana"))
        await until(lambda: wire.inbox(alice) and any("NOT SAVED" in m.text for m in wire.inbox(bob)),
                    "the cover reply and the first tier told directly", active)
        scenario.say("erin", kit.PHRASES[1])  # a second codeword in the same partition is answered too
        await until(lambda: wire.inbox(kit.TG["erin"]), "the second cover reply", active)
        await asyncio.sleep(1.0)
        told = [m.text for m in wire.inbox(dana) if "cannot write to its database" in m.text]
        assert len(told) == 1, told  # the admins are told once
        assert active.proc.poll() is None  # it kept serving, it did not exit into a standby that answers nobody
        assert not [m for m in wire.inbox(bob) if "tier 2" in m.text]  # no ladder runs without the lease

        proxy.restore()
        await until(lambda: cluster.query("SELECT COUNT(*) FROM alerts WHERE kind='codeword'")[0][0] == 2,
                    "the real alerts raised once the database answers", timeout=30)
        await until(lambda: active.proc.poll() is not None, "the partitioned instance restarting", timeout=15)
        assert active.proc.returncode == 2
        assert cluster.query("SELECT COUNT(*) FROM alerts WHERE kind='codeword'")[0][0] == 2  # each raised once
    finally:
        cluster.kill_all()
        proxy.close()
