"""Process level: a flood of half-open connections on the Telegram webhook port loses no codeword.

A real `saferbot run` (Telegram webhook mode, the fake Telegram, a real SQLite file) with a
low open-file limit, as systemd's default soft limit of 1024 is low for a flood. Hundreds of
connections that never finish their headers used to take every file descriptor: the store
could not open its files, the engine treated that as a handler bug, confirmed the update and
answered "Sorry", so the codeword was never raised. Now: a cap on connections per port
(the oldest idle one makes way), a header timeout, and any store fault at intake leaves the
update unconfirmed, so Telegram sends it again and it is raised once (in process:
tests/test_intake_not_stored.py). Here: every codeword raised, none answered "Sorry", and
the log not flooded with asyncio's accept errors (before: ~32,000 lines in 6 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.test_intake_confirmed import TG_ALICE, Proc, free_port, listening, telegram, telegram_world, until

__all__ = ["telegram"]  # the fixture

PHRASES = ("Is Mr Brown in today?", "Can someone bring the red folder", "Time for the stock check")
AFTER = "Has Mr Brown been in?"
NOFILE = 256  # the child's open-file limit: far below the flood


class LimitedProc(Proc):
    """`saferbot run` with a low RLIMIT_NOFILE."""

    def __init__(self, env: dict[str, str], cwd: Path, name: str, nofile: int):
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.log = cwd / f"{name}.log"
        self.started = time.monotonic()
        with self.log.open("w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=cwd, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=limit)


class Flood:
    """Keeps `size` connections open on a port, each with half a request's headers, re-opening closed ones."""

    def __init__(self, port: int, size: int, path: str = "/telegram-hook"):
        self.port, self.size = port, size
        self.head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        self.socks: list[socket.socket] = []
        self.opened = 0

    def _open(self) -> None:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        self.socks.append(s)
        self.opened += 1

    def _alive(self, s: socket.socket) -> bool:
        try:
            return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    async def run(self) -> None:
        while len(self.socks) < self.size:
            for _ in range(min(100, self.size - len(self.socks))):
                self._open()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.send(self.head)
        while True:  # keep the pressure: a closed connection is replaced, 100 at a time
            await asyncio.sleep(0.3)
            dead = [s for s in self.socks if not self._alive(s)]
            for s in dead[:100]:
                self.socks.remove(s)
                s.close()
                self._open()
            await asyncio.sleep(0.05)
            for s in self.socks[-100:]:
                with contextlib.suppress(OSError):
                    s.send(self.head)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks.clear()


def alerts(w) -> int:
    try:
        return w.query("SELECT COUNT(*) FROM alerts")[0][0]
    except Exception:
        return 0


async def test_codewords_sent_during_a_connection_flood_are_all_raised(tmp_path, telegram):
    fake, port = telegram, free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    w = telegram_world(tmp_path, fake, SAFERBOT_TELEGRAM_WEBHOOK_URL=url, SAFERBOT_TELEGRAM_WEBHOOK_SECRET="s3cret",
                       SAFERBOT_TELEGRAM_WEBHOOK_PORT=str(port), SAFERBOT_LISTEN_HEADER_TIMEOUT="1")
    proc = LimitedProc(w.env, tmp_path, "run1", NOFILE)
    w.procs.append(proc)
    flood = Flood(port, 4 * NOFILE)
    flooding = None
    try:
        await until(lambda: fake.webhook and listening(port), "the webhook being set", proc)
        flooding = asyncio.create_task(flood.run())
        await asyncio.sleep(1.5)
        alice = fake.users[TG_ALICE]
        for phrase in PHRASES:  # during the flood
            fake.say(alice, phrase)
            await asyncio.sleep(0.3)
        await asyncio.sleep(3)
        flooding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flooding
        flood.close()
        fake.say(alice, AFTER)  # after it
        await until(lambda: alerts(w) >= 4, "four alerts raised", proc, timeout=40)
        await asyncio.sleep(0.5)
        out = proc.output()
        assert alerts(w) == 4, out[-3000:]
        assert "Sorry" not in " ".join(fake.texts(TG_ALICE))
        assert proc.proc.poll() is None, "the process died"
        assert len(out.splitlines()) < 300, f"the log was flooded: {len(out.splitlines())} lines"
    finally:
        if flooding is not None:
            flooding.cancel()
        flood.close()
        w.kill_all()
