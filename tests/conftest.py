"""Shared fixtures: a real engine on a real store, a fake clock, an in-memory transport.

Every test that uses `harness` (or `db`) runs twice: on a real SQLite file and on a fresh
schema of a real PostgreSQL server (tests/pgtest.py; skipped, and said so, without one).

`harness` is what most capability tests use:

    async def test_x(harness):
        await harness.say("alice", "Is Mr Brown in today?")
        assert "staff room" in harness.last("alice").text
        await harness.advance(150)          # fake minutes pass; due wake-ups fire
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.book import load_book, load_service
from bot.clock import FakeClock
from bot.compose import build_app
from bot.engine import Engine
from bot.messages import Delivery
from bot.settings import Settings
from bot.transports.memory import MemoryTransport

from . import pgtest

ROOT = Path(__file__).resolve().parent.parent
# a Wednesday afternoon: Bob is duty manager at Central on the example rota
AFTERNOON = datetime(2026, 11, 25, 14, 30, tzinfo=ZoneInfo("Europe/London")).timestamp()


def make_settings(db: Path | str, **extra) -> Settings:
    if "files_dir" not in extra and "://" in str(db):  # PostgreSQL: files/ would go in the working folder (ROOT)
        extra["files_dir"] = Path(tempfile.mkdtemp(prefix="saferbot-files-"))
    return Settings(**{"db": db, "codewords_file": ROOT / "codewords.yaml",
                       "service_file": ROOT / "config" / "service.example.yaml", "outbox_backoff": 0.01,
                       "outbox_backoff_max": 0.05, "_env_file": None, **extra})


async def settle(engine: Engine, rounds: int = 200) -> None:
    """Wait until the outbox has nothing due (real time, a few ms)."""
    if not await engine.settle(timeout=rounds * 0.01):
        raise AssertionError("the outbox did not settle")


@dataclass
class Harness:
    engine: Engine
    clock: FakeClock
    transport: MemoryTransport
    db: Path | str  # the SQLite file, or the PostgreSQL URL (a fresh schema)

    async def say(self, who: str, text: str = "", **kw) -> None:
        await self.transport.say(who, text, **kw)
        await settle(self.engine)

    async def press(self, who: str, label: str) -> None:
        """Press a button by label on the newest message `who` sees with that button."""
        for rec in reversed(self.transport.records):
            d = rec.delivery
            if d.chat_id == who:
                for b in d.buttons:
                    if b.label.lower() == label.lower():
                        await self.say(who, action=b.action, arg=b.arg)
                        return
        raise AssertionError(f"{who} has no '{label}' button")

    async def advance(self, seconds: float) -> None:
        await self.clock.advance(seconds)
        await settle(self.engine)

    def sent(self, who: str) -> list[Delivery]:
        return [d for d in self.transport.to(who) if d.kind == "send"]

    def last(self, who: str) -> Delivery:
        sent = self.sent(who)
        assert sent, f"nothing was sent to {who}"
        return sent[-1]

    def seen(self, who: str) -> Delivery | None:
        return self.transport.latest(who)

    def texts(self, who: str) -> list[str]:
        return [d.text for d in self.sent(who)]

    async def query(self, sql: str, *args):
        return await self.engine.store.read(lambda c: c.execute(sql, args).fetchall())


async def start_engine(db: Path | str, clock: FakeClock, transport: MemoryTransport | None = None,
                       **settings) -> Harness:
    transport = transport or MemoryTransport("console")
    s = make_settings(db, **settings)
    service = load_service(s.service_file)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[transport])
    await engine.start()
    await settle(engine)
    return Harness(engine, clock, transport, db)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(AFTERNOON)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """Where the store lives: a SQLite file, then a PostgreSQL schema (each test runs on both)."""
    if request.param == "sqlite":
        yield tmp_path / "saferbot.db"
        return
    schema = pgtest.Schema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def schema():
    """A PostgreSQL-only test's schema (skipped, and said so, without a server)."""
    s = pgtest.Schema()
    yield s
    s.drop()


@pytest.fixture
async def harness(db, clock):
    h = await start_engine(db, clock)
    yield h
    await h.engine.stop()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say plainly when the PostgreSQL half did not run, and how to run it."""
    why = pgtest.unavailable()  # asked here too: with xdist the workers' answers stay in the workers
    if why:
        terminalreporter.write_line(pgtest.HOW.format(url=pgtest.PG_URL, why=why), yellow=True, bold=True)
    browser = [r for r in terminalreporter.stats.get("skipped", []) if "BOARD BROWSER TESTS SKIPPED" in str(r.longrepr)]
    if browser:  # the board's browser tests (tests/test_board_browser.py) need Debian's chromium
        terminalreporter.write_line(f"{len(browser)} board browser test(s) skipped: no chromium (apt-get install -y "
                                    "chromium; CI installs it and fails without it)", yellow=True, bold=True)


def pytest_unconfigure(config):
    """Once the workers have gone (xdist waits for them before this), the PostgreSQL catalogs are vacuumed."""
    if not hasattr(config, "workerinput"):
        pgtest.vacuum_catalogs()


SLOW_FIRST = ("test_kill_9_of_the_active_instance", "test_stub_then_full_form_by_buttons", "test_mutated_copies",
              "test_kill_9_mid_session")


def pytest_collection_modifyitems(config, items):
    """The longest tests start first, so that with several workers none of them is left running alone at the end."""
    items.sort(key=lambda item: not item.name.startswith(SLOW_FIRST))
