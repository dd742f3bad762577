"""Ports that face the network (Telegram webhook, Slack HTTP, /healthz, a standby's relay) survive a flood.

aiohttp on its own waits for a request's headers for ever and accepts connections until the
process has no file descriptor left; then the store cannot open its files and alarms are lost.
Every port saferbot listens on is served through `Site`, which:

- keeps at most `max_connections` connections (fewer if the process's open-file limit is low),
  and when full lets the oldest connection that is not in the middle of a request make way
  (a real request sends its headers within milliseconds, a flood's connection never does);
- closes a connection that has not sent a complete request's headers (or sat idle between
  requests) for `header_timeout` seconds, and one whose body has not arrived `body_timeout`
  seconds after its headers;
- binds SAFERBOT_LISTEN_HOST (127.0.0.1 unless configured: put a reverse proxy in front).

Refused and closed connections are counted and logged at most once every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

FD_RESERVE = 64  # file descriptors kept for the store, the platforms' clients and logs
PORTS_SHARE = 4  # a port may use at most this fraction of what is left of the open-file limit
BACKLOG = 64
REPORT_EVERY = 10.0  # seconds between two log lines about refused or closed connections


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(settings.listen_max_connections, settings.listen_header_timeout, settings.listen_body_timeout)

    def cap(self) -> int:
        """Connections one port may hold: the setting, or less if the open-file limit is low."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(8, min(self.max_connections, (soft - FD_RESERVE) // PORTS_SHARE))


class _Conn(asyncio.Protocol):
    """One connection: aiohttp's handler inside, watched by the guard."""

    def __init__(self, guard: _Guard):
        self.guard = guard
        self.inner: Any = None
        self.transport: Any = None
        self.requests = 0  # requests started (headers complete) on this connection
        self.seen = 0  # `requests` at the last look
        self.payload: Any = None
        self.started_at = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def busy(self) -> bool:
        return bool(self.inner is not None and getattr(self.inner, "_request_in_progress", False))

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if not self.guard.admit(self):
            transport.abort()
            return
        self.inner = self.guard.server()
        self.inner.connection_made(transport)
        self._arm(self.guard.limits.header_timeout)

    def _arm(self, seconds: float) -> None:
        self.timer = asyncio.get_running_loop().call_later(seconds, self._look)

    def _look(self) -> None:
        """Close a connection that sent no complete request, or no body, in time."""
        limits = self.guard.limits
        if self.busy():
            waited = time.monotonic() - self.started_at
            if self.payload is not None and not self.payload.is_eof() and waited > limits.body_timeout:
                self.guard.count("slow body")
                self.transport.abort()
                return
            self._arm(min(limits.header_timeout, limits.body_timeout))
            return
        if self.requests == self.seen:  # headers unfinished, or idle, for a whole period
            self.guard.count("no request in time")
            self.transport.close()
            return
        self.seen = self.requests
        self._arm(limits.header_timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.guard.conns.pop(self, None)
        self.guard.by_transport.pop(self.transport, None)
        if self.inner is not None:
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class _Guard:
    """The connections of one port."""

    def __init__(self, server: web.Server, limits: Limits, name: str):
        self.server = server
        self.limits = limits
        self.name = name
        self.cap = limits.cap()
        self.conns: dict[_Conn, None] = {}  # oldest first
        self.by_transport: dict[Any, _Conn] = {}
        self.counts: dict[str, int] = {}
        self.reported = 0.0
        factory = server.request_factory

        def request_factory(message: Any, payload: Any, protocol: Any, *args: Any) -> Any:
            conn = self.by_transport.get(protocol.transport)
            if conn is not None:
                conn.requests += 1
                conn.payload, conn.started_at = payload, time.monotonic()
            return factory(message, payload, protocol, *args)

        server.request_factory = request_factory

    def admit(self, conn: _Conn) -> bool:
        """Room for one more: the oldest connection not handling a request makes way; False if all are busy."""
        if len(self.conns) >= self.cap:
            idle = next((c for c in self.conns if not c.busy()), None)
            if idle is None:
                self.count("refused, every connection busy")
                return False
            self.conns.pop(idle, None)
            self.by_transport.pop(idle.transport, None)
            idle.transport.abort()
            self.count("oldest idle connection closed to make room")
        self.conns[conn] = None
        self.by_transport[conn.transport] = conn
        return True

    def count(self, why: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1
        now = time.monotonic()
        if now - self.reported >= REPORT_EVERY:
            self.reported = now
            summary = ", ".join(f"{n} {w}" for w, n in sorted(self.counts.items()))
            log.warning("%s: too many connections or too slow (at most %d at once): %s", self.name, self.cap, summary)
            self.counts.clear()

    def protocol(self) -> _Conn:
        return _Conn(self)


class Site(web.BaseSite):
    """An aiohttp site with the guard above; `port` is the port actually bound (port 0 works)."""

    __slots__ = ("_host", "_port", "_sock", "_limits", "_guard", "port")

    def __init__(self, runner: web.BaseRunner, host: str | None = None, port: int | None = None, *,
                 sock: socket.socket | None = None, limits: Limits | None = None):
        super().__init__(runner, backlog=BACKLOG)
        self._host, self._port, self._sock = host, port, sock
        self._limits = limits or Limits()
        self._guard: _Guard | None = None
        self.port = port or 0

    @property
    def name(self) -> str:
        return f"http://{self._host or '?'}:{self.port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard = self._guard = _Guard(server, self._limits, f"port {self._port or '?'}")
        if self._sock is not None:
            self._server = await loop.create_server(guard.protocol, sock=self._sock, backlog=self._backlog)
        else:
            self._server = await loop.create_server(guard.protocol, self._host, self._port, backlog=self._backlog,
                                                    reuse_address=True)
        sockets = getattr(self._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
            guard.name = f"port {self.port}"

    async def stop(self) -> None:
        if self._guard is not None:
            for conn in list(self._guard.conns):
                conn.transport.abort()
        await super().stop()
