"""Say when protection was off, and let the outside world see that saferbot is alive.

- A heartbeat row in the store, written every HEARTBEAT_EVERY seconds. At start-up after
  more than DOWNTIME_NOTICE seconds without one, every duty manager on duty and every
  admin get one message: offline from-to, and what fell due meanwhile (now escalated).
- SAFERBOT_HEARTBEAT_URL: called every minute while healthy (the push-URL convention of
  Healthchecks.io and Uptime Kuma), so an outside monitor raises the alarm when saferbot dies.
- SAFERBOT_HEALTH_PORT: GET /healthz writes a heartbeat and answers 200 only when that write
  worked, the scheduler is not lagging and no platform is failing its deliveries; else 503.
  The body says only {"status", "active"}: the reasons go to the log, never to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from typing import TYPE_CHECKING

from . import listen
from .messages import Outbound
from .model import Priority, Role
from .unit import Tx
from .words import duration

if TYPE_CHECKING:
    from .engine import Engine
    from .settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 15.0  # seconds between two heartbeat rows
DOWNTIME_NOTICE = 60.0  # a gap longer than this is told to duty managers and admins
PING_EVERY = 60.0  # seconds between two calls of SAFERBOT_HEARTBEAT_URL
MAX_LAG = 5.0  # scheduler: the earliest wake-up may be this late before /healthz says so

class Health:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine = engine
        self.settings = settings
        self.last_write: float | None = None  # monotonic time of the last heartbeat written
        self.write_error = ""
        self._tasks: list[asyncio.Task] = []
        self._runner = None
        self.created = engine.clock.now()  # before the engine starts: alerts raised by overdue timers count
        engine.health = self  # type: ignore[attr-defined]  # the board's health panel reads problems()

    async def start(self) -> None:
        """After the engine started (overdue wake-ups fired): tell about downtime, then beat."""
        await self.engine.perform(_downtime_notice, self.created)
        await self._beat()
        self._tasks.append(asyncio.create_task(self._beat_loop()))
        if self.settings.heartbeat_url:
            self._tasks.append(asyncio.create_task(self._ping_loop()))
        if self.settings.health_port:
            await self._serve_http()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the heartbeat row -----------------------------------------------------------
    async def _beat(self) -> None:
        try:
            await self.engine.perform(_write_beat)
            self.last_write, self.write_error = time.monotonic(), ""
            await self.engine.emergency.store_writes()  # the heartbeat wrote a row: any store fault has cleared
        except Exception as e:  # the engine has told the admins that the store fails
            self.write_error = str(e) or type(e).__name__

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            await self._beat()

    # --- what a monitor sees ---------------------------------------------------------
    def problems(self) -> list[str]:
        out = []
        if self.write_error:
            out.append(f"the store is not writable: {self.write_error}")
        elif self.last_write is None or time.monotonic() - self.last_write > 2 * HEARTBEAT_EVERY + 5:
            out.append("no heartbeat written recently")
        scheduler = self.engine.scheduler
        if scheduler and scheduler.lag() > MAX_LAG:
            out.append(f"the scheduler is {scheduler.lag():.0f} s behind")
        outbox = self.engine.outbox
        for platform in sorted(outbox.down if outbox else {}):
            out.append(f"{platform} is failing deliveries")
        for check in self.engine.app.health_checks:  # a capability's own (a silent trigger device, ...)
            out.extend(check(self.engine))
        return out

    async def _ping_loop(self) -> None:
        import aiohttp

        url = str(self.settings.heartbeat_url)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while True:
                if not self.problems():  # an unhealthy bot stays silent: the monitor raises the alarm
                    try:
                        async with http.get(url) as r:
                            r.raise_for_status()
                    except Exception as e:
                        log.warning("heartbeat URL call failed: %s", type(e).__name__)
                await asyncio.sleep(PING_EVERY)

    async def _serve_http(self) -> None:
        from aiohttp import web

        async def healthz(_request: web.Request) -> web.Response:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat(), 3)  # a real write: "writable" is measured, not assumed
            problems = self.problems()
            if problems:  # the reasons go to the log (and `saferbot status`), never to whoever asks
                log.warning("/healthz: unhealthy: %s", "; ".join(problems))
            body = {"status": "unhealthy" if problems else "ok", "active": True}
            return web.Response(text=json.dumps(body), status=503 if problems else 200,
                                content_type="application/json")

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        for routes in self.engine.app.http_routes:  # capabilities' endpoints (triggers, callbacks, the board)
            app.add_routes(routes(self.engine))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)  # open board streams: no 60 s stop
        await self._runner.setup()
        s = self.settings
        await listen.Site(self._runner, s.host_for(s.health_listen), s.health_port, limits=listen.Limits.of(s)).start()


def _write_beat(tx: Tx) -> None:
    tx.conn.execute("INSERT INTO heartbeat(id, at) VALUES(1, ?) ON CONFLICT(id) DO UPDATE SET at=excluded.at",
                    (tx.now,))


def _downtime_notice(tx: Tx, started: float) -> None:
    """After a gap in the heartbeat: duty managers on duty and admins hear it once."""
    row = tx.conn.execute("SELECT at FROM heartbeat WHERE id=1").fetchone()
    if row is None or started - row[0] <= DOWNTIME_NOTICE:
        return
    since = row[0]
    fell = [f"{n} {tx.ctx.app.alert_kinds.get(kind, kind + ' alert(s)')}" for kind, n in tx.conn.execute(
        "SELECT kind, COUNT(*) FROM alerts WHERE created_at>=? GROUP BY kind ORDER BY kind", (started,))]
    climbs = tx.conn.execute("SELECT COUNT(*) FROM wakeups WHERE kind='alert.climb' AND due_at>? AND due_at<=?"
                             " AND status='done'", (since, started)).fetchone()[0]
    if climbs:
        fell.append(f"{climbs} escalation step(s) of live alerts")
    lines = [f"saferbot was offline from {tx.hhmm(since)} to {tx.hhmm(started)} ({duration(started - since)}):"
             f" nobody could raise an alert through it and no timer could escalate in that time."]
    lines.append(f"What fell due meanwhile has been escalated now: {', '.join(fell)}." if fell
                 else "Nothing fell due meanwhile.")
    lines.append("Please check on anyone who was working alone or asked for help in that time.")
    d = tx.directory
    keys = [k for b in d.service.branches for k in d.duty_managers(tx.conn, b, tx.local())]
    keys += [p.key for p in d.people.values() if p.role == Role.admin]
    for key in dict.fromkeys(keys):
        person = d.person(key)
        if person:
            tx.send(person, Outbound("\n".join(lines), priority=Priority.alarm), tag="downtime")


class _Endpoint:
    def __init__(self, runner=None):
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def active_instance(settings: Settings) -> str | None:
    """Which instance is active ("pid 123 on host lib-vm1 since ..."), blocking: for a standby's pages that
    a signed-in person reads (App.standby_routes), never for /healthz."""
    from pathlib import Path

    from .store import StoreError, pg
    from .storecheck import lease_line, running

    try:
        if not settings.on_postgres:
            return running(Path(settings.db))
        conn = pg.Connection(settings.db)
        try:
            held, text = lease_line(conn)
        finally:
            conn.close()
        return text if held else None
    except (*StoreError, OSError):
        return None


async def standby_endpoint(settings: Settings, app_routes=()) -> _Endpoint:
    """A standby's /healthz: 503 {"status": "standby", "active": false}, and nothing more.

    A load balancer in front of two instances (webhook modes) sends traffic only where
    /healthz answers 200, which is the active instance. Which instance is active (host, pid)
    is for `saferbot status` and the log, not for anyone who can reach the port.
    """
    if not settings.health_port:
        return _Endpoint()
    from aiohttp import web

    async def healthz(_request: web.Request) -> web.Response:
        body = {"status": "standby", "active": False}
        return web.Response(text=json.dumps(body), status=503, content_type="application/json")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    for routes in app_routes:  # App.standby_routes: fn(settings, active) -> routes (relay a press, "not here")
        app.add_routes(routes(settings, functools.partial(active_instance, settings)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await listen.Site(runner, settings.host_for(settings.health_listen), settings.health_port,
                          limits=listen.Limits.of(settings)).start()
    except OSError as e:  # the active instance on this same machine has the port: no standby endpoint
        log.warning("standby: no /healthz on port %s (%s)", settings.health_port, e.strerror)
        await runner.cleanup()
        return _Endpoint()
    return _Endpoint(runner)
