"""`saferbot run`: one active process, a clear exit on every fatal fault, a bounded stop.

- Being the active instance comes first (bot.instance: a lock file for SQLite, the lease
  row of bot.lease for PostgreSQL): another process waits as a standby (or refuses,
  SAFERBOT_STANDBY=false) and names the running one. An instance that loses its lease
  stops sending and exits (code 2) so that its service manager restarts it as a standby.
- A fatal start-up fault (corrupt or unreadable database, a token the platform refuses,
  a port in use) ends the process within seconds with exit code 2 and one line that names
  the cause and the fix, never a hang or a traceback.
- SIGTERM/SIGINT stop the process within STOP_BUDGET seconds whatever the platforms do;
  unsent messages stay in the store for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import sqlite3
import sys

from .settings import Settings

log = logging.getLogger("saferbot")
STOP_BUDGET = 8.0  # seconds for a clean stop; then the process exits anyway
EXIT_FATAL = 2


class Fatal(Exception):
    """A fault that ends the process with one line: what is wrong and how to fix it."""


def explain(e: BaseException, settings: Settings) -> str:
    """One line for a fatal start-up fault: the cause and the fix."""
    from .settings import hide_password, passwords_in

    db = settings.db_shown
    text = str(e)
    for secret in passwords_in(settings.db):  # libpq may quote the URL, or a piece of a password with an @
        text = text.replace(secret, "***")
    text = hide_password(text)
    name = type(e).__name__
    if isinstance(e, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return (f"the file {db} is not a valid saferbot database ({text}). Fix: restore the last backup with "
                f"`saferbot restore FILE`, or move the file aside to start with an empty database.")
    if isinstance(e, sqlite3.OperationalError) and ("unable to open" in text or "readonly" in text):
        return (f"cannot open the database {db} ({text}). Fix: check that SAFERBOT_DB names a file in a "
                f"folder that exists and that the saferbot user may write to.")
    if type(e).__module__.startswith("psycopg") and name in ("OperationalError", "ConnectionTimeout"):
        return (f"cannot use the PostgreSQL database in SAFERBOT_DB ({text.strip().splitlines()[0] if text else name})."
                f" Fix: check the URL (postgresql://user@host:5432/db), that the server runs and that this user"
                f" may log in and create tables.")
    if isinstance(e, PermissionError):
        return f"permission denied: {e}. Fix: let the saferbot user read and write {db} and its folder."
    if name == "InvalidToken":
        from .transports.telegram_intake import REFUSED

        return REFUSED
    if name == "SlackApiError":
        return (f"Slack refused a token ({getattr(e, 'response', {}).get('error', text)}). Fix: check "
                f"SAFERBOT_SLACK_BOT_TOKEN (xoxb-...) and SAFERBOT_SLACK_APP_TOKEN (xapp-..., connections:write).")
    if isinstance(e, OSError) and e.errno == errno.EADDRINUSE:
        return (f"a port saferbot needs is already in use ({text}). Fix: stop the other program, or set a free "
                f"port (SAFERBOT_HEALTH_PORT, SAFERBOT_TELEGRAM_WEBHOOK_PORT, SAFERBOT_SLACK_HTTP_PORT).")
    return f"could not start: {name}: {text}"


async def serve(settings: Settings, console: bool, book, service, app) -> int:
    """Run the App (composed by the entry point, bot/compose.py) until stopped."""
    from . import systemd
    from .engine import Engine, settle_heap
    from .health import Health, standby_endpoint
    from .instance import guard_for as _guard
    from .relay import StandbyRelay
    from .store import Fenced
    from .transports import build

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    # build everything slow that needs no lease before taking it: importing and setting up the
    # platforms' clients blocks this event loop (about 0.7 s for Telegram alone), and the lease is
    # renewed on this loop, so a process that took the lease first could let it lapse while still
    # starting and be fenced by a standby that took it meanwhile. Building opens no connection.
    engine = Engine(settings, book, service, app=app, transports=build(settings, console=console))
    try:
        guard = await _guard(settings)
    except Exception as e:
        raise Fatal(explain(e, settings)) from e
    if not await guard.take():
        running = await guard.current()
        if not settings.standby:
            raise Fatal(f"saferbot is already running on this database ({running}). Fix: stop that process "
                        f"first, or set SAFERBOT_STANDBY=true to wait as its standby.")
        log.warning("saferbot is already running on %s (%s); this process waits as a standby, sends nothing, "
                    "and takes over if that one stops", guard.where, running)
        standby_health = await standby_endpoint(settings, app.standby_routes)
        relayed = StandbyRelay(settings)  # webhooks that reach this standby are stored for the active one
        if settings.on_postgres:
            await relayed.start()
        try:
            if not await _first(guard.wait(), stop.wait()):
                return 0
        finally:
            await relayed.stop()
            await standby_health.stop()
        log.warning("the active process stopped: this standby takes over now")
    engine.fence = guard.generation
    engine.may_send = guard.valid  # nothing leaves unless the lease is known valid at that instant
    health = Health(engine, settings)
    try:
        try:
            if not await _first(engine.start(), stop.wait()):
                return 0
            if engine.store is not None and hasattr(engine.store, "on_fenced"):
                engine.store.on_fenced = guard.give_up  # a refused write: stop at once, as a lost renewal does
            await health.start()
            settle_heap()  # what start-up built is not walked by every full garbage collection again
        except Exception as e:
            if isinstance(e, Fenced):  # the lease passed on while starting: said as a lost lease, not a crash
                guard.give_up(str(e))
            if guard.lost.is_set():
                raise Fatal(f"{guard.why}; exiting so this process restarts as a standby") from e
            raise Fatal(explain(e, settings)) from e
        systemd.notify("READY=1")  # Type=notify: systemd counts the bot as started only now
        watchdog = systemd.start_watchdog()
        log.info("saferbot running on %s (database %s); %d overdue wake-up(s) fired",
                 ", ".join(engine.transports), settings.db_shown, engine.overdue_at_start)
        waiters = [asyncio.create_task(stop.wait())]
        waiters += [asyncio.create_task(t.quit.wait()) for t in engine.transports.values() if hasattr(t, "quit")]
        waiters.append(asyncio.create_task(guard.lost.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            systemd.notify("STOPPING=1")
            await systemd.stop_watchdog(watchdog)
        if guard.lost.is_set():
            if guard.unreachable and hasattr(engine.store, "cut_off"):  # first: events waiting on it are answered
                engine.store.cut_off("PostgreSQL cannot be reached")
            if engine.outbox is not None:  # not one more send, before the platforms are disconnected
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(engine.outbox.stop(), 2)
            if guard.unreachable:  # PostgreSQL is out of reach, not taken over: keep answering without it
                if not await _partitioned(engine, guard, stop):
                    return 0
                raise Fatal("PostgreSQL can be reached again; exiting so this process restarts as the active "
                            "instance or a standby")
            raise Fatal(f"{guard.why}; exiting so this process restarts as a standby (another instance is active)")
        fatal = [t.fatal for t in engine.transports.values() if getattr(t, "fatal", "")]
        if fatal:
            raise Fatal(fatal[0])
        return 0
    finally:
        await _bounded_stop(engine, health)
        await guard.release()


async def _partitioned(engine, guard, stop: asyncio.Event) -> bool:
    """The database cannot be reached and the lease has lapsed: no ladders, no timers, no outbox.

    The platforms stay connected, so a codeword still gets its cover reply and reaches its first
    tier and the admins directly, marked NOT SAVED (bot/emergency.py), unconfirmed so that it is
    handled for real once the database answers. Returns once it answers (True) or on a stop signal.
    """
    from . import outbox, systemd

    log.error("cannot reach PostgreSQL (%s): this instance runs no ladders, timers or deliveries now; it "
              "keeps its platform connections and answers codewords without the database (cover reply, first "
              "tier and admins told directly) until the database answers again, then restarts", guard.why)
    if engine.scheduler is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.scheduler.stop(), 2)
    if engine.outbox is not None:
        engine.outbox.results.clear()  # they cannot be written: those rows stay claimed, in doubt if started
    watchdog = systemd.start_watchdog()  # the loop is alive and answering: systemd must not kill it
    try:
        while not stop.is_set():
            if await guard.reachable():
                return True
            await outbox.until_set(stop, 1.0)  # a cancel is never swallowed here (see until_set)
        return False
    finally:
        await systemd.stop_watchdog(watchdog)


async def _first(work, stop_wait) -> bool:
    """Run `work` unless a stop signal comes first; True if the work finished."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop_wait)
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        task.result()  # raises what the work raised
        return True
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return False


async def _bounded_stop(engine, health) -> None:
    from .store import Fenced

    try:
        await asyncio.wait_for(_stop_all(engine, health), STOP_BUDGET)
    except Fenced:
        # the lease has passed on: the store refuses the last delivery results, as it should. The rows
        # stay claimed; the active instance sends them again, marked as possible repeats.
        log.warning("the last delivery results were not recorded (the lease has passed to another instance)")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.store.close(), 2)
    except (TimeoutError, Exception) as e:
        log.error("saferbot did not stop cleanly within %.0f s (%s); exiting anyway, unsent messages stay "
                  "in the store", STOP_BUDGET, type(e).__name__)
        sys.stderr.flush()
        os._exit(1)  # a stuck thread (a platform, the database) must not keep the process alive


async def _stop_all(engine, health) -> None:
    await health.stop()
    await engine.stop()


def run(settings: Settings, console: bool, book, service, app) -> int:
    try:
        return asyncio.run(serve(settings, console, book, service, app))
    except Fatal as e:
        print(f"saferbot: {e}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        return 0
