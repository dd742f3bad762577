"""`saferbot demo`: a scripted codeword scenario on the console, with fast time.

Time is a fake clock moved on by the script, so a five-minute ladder plays in a
second; everything else (store, ladder, outbox, console rendering) is the real thing.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .clock import FakeClock
from .engine import Engine
from .settings import Settings
from .transports.console import ConsoleTransport


async def run_demo(settings: Settings) -> int:
    from .commands.config import load_config
    from .compose import build_app  # an entry point: it composes the capabilities

    book, service = load_config(settings)
    start = datetime(2026, 11, 25, 14, 30, tzinfo=ZoneInfo(service.timezone)).timestamp()
    clock = FakeClock(start, service.timezone)
    console = ConsoleTransport(read_stdin=False)
    with tempfile.TemporaryDirectory() as tmp:
        demo_settings = settings.model_copy(update={"db": str(Path(tmp) / "demo.db")})
        engine = Engine(demo_settings, book, service, app=build_app(), clock=clock, transports=[console])
        await engine.start()
        say = console.print

        async def step(title: str, line: str | None = None) -> None:
            say(f"\n=== {clock.hhmm(clock.now())}  {title}")
            if line:
                say(f"  > {line}")
                await console.handle_line(line)
            await engine.settle()

        try:
            await step("Carol starts her shift at Central Library", "@carol on shift")
            await step("Alice, at the enquiry desk, sends a codeword from her phone",
                       "@alice Is Mr Brown in today?")
            say("\n(Alice's phone shows only the cover reply. Carol and Bob, the duty manager, are tier 1.)")
            await clock.advance(150)
            await step("Two and a half minutes pass; nobody has acknowledged: the alert climbs to tier 2")
            await step("Dana (admin) presses Acknowledge", "@dana [acknowledge]")
            say("\n(Every copy now shows who acknowledged; Alice got a discreet confirmation.)")
            await clock.advance(240)
            await step("Four minutes later Bob resolves it", "@bob [resolve]")
            timeline = await engine.perform(_timeline)
            say("\n=== The alert's timeline\n" + timeline)
        finally:
            await engine.stop()
    return 0


def _timeline(tx) -> str:
    from handlers.alerts import format_timeline

    from . import escalation

    alert = escalation.load(tx.conn, 1)
    return format_timeline(tx, alert) if alert else "(no alert)"
