"""The very last point before bytes leave: an HTTP client whose every socket write asks first.

The outbox checks the lease at hand-off, but a request handed off a moment before the process
froze (SIGSTOP, a paused VM) is still on its way through the HTTP client when it wakes: the
check passed before the freeze, the bytes would leave after it, when another instance may have
taken over. Here each write to the socket asks `may_send()` again (the lease known valid by the
monotonic clock at that instant); a refused write fails the request before anything reaches the
platform, and the row stays for whichever instance holds the lease.

The not-stored path (bot/emergency.py: the database cannot be reached, so there is no lease to
hold) sends without it, inside `unleased()`: its messages say they are not saved.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpcore
import httpx

from .base import LeaseNotValid, allowed  # the lease question itself lives below the engine (base.py)


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, may_send: Callable[[], bool]):
        self.inner, self.may_send = inner, may_send

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not allowed(self.may_send):
            raise LeaseNotValid("not sent: this instance's lease is not known valid now")
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self.inner.start_tls(ssl_context, server_hostname, timeout), self.may_send)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self, may_send: Callable[[], bool]):
        self.inner = httpcore.AnyIOBackend()
        self.may_send = may_send

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream, self.may_send)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self.inner.connect_unix_socket(path, timeout, socket_options), self.may_send)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def transport(may_send: Callable[[], bool], connections: int) -> httpx.AsyncHTTPTransport:
    """An httpx transport (HTTP/1.1, `connections` at most) whose socket writes ask `may_send()` first."""
    t = httpx.AsyncHTTPTransport()
    t._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=connections,
                                           max_keepalive_connections=connections, http1=True, http2=False,
                                           network_backend=_Backend(may_send))
    return t
