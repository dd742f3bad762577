"""systemd's notify protocol (sd_notify) without a dependency.

With `Type=notify` and `WatchdogSec=` in config/saferbot.service, systemd waits for
READY=1 before it counts the bot as started, and restarts it when WATCHDOG=1 stops
arriving: a hung event loop (not only a crashed process) gets a fresh start. Outside
systemd NOTIFY_SOCKET is unset and every call here does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

log = logging.getLogger("saferbot.systemd")


def _address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    if addr.startswith("@"):  # abstract namespace socket
        return "\0" + addr[1:]
    return addr


def notify(state: str) -> bool:
    """Send one state line (READY=1, WATCHDOG=1, STOPPING=1, STATUS=...); False when not under systemd."""
    addr = _address()
    if not addr:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(state.encode())
        return True
    except OSError as e:  # never let the watchdog take the bot down: systemd will notice the silence
        log.warning("could not notify systemd (%s): %s", state, e)
        return False


def watchdog_interval() -> float | None:
    """Half of WATCHDOG_USEC in seconds, if systemd asked this process for a watchdog."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not _address() or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None


async def _ping(every: float) -> None:
    # runs on the event loop: if the loop hangs, the pings stop and systemd restarts the bot
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(every)


def start_watchdog() -> asyncio.Task | None:
    """A task sending WATCHDOG=1 every WATCHDOG_USEC/2 while the loop runs; None without a watchdog."""
    every = watchdog_interval()
    return asyncio.create_task(_ping(every), name="systemd-watchdog") if every else None


async def stop_watchdog(task: asyncio.Task | None) -> None:
    if task:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
