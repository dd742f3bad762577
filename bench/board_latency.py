"""Board latency: from a committed change in the store to the change in the browser's page.

A real engine (SQLite file, or PostgreSQL with --db postgresql), the board on a real port, and
Debian's chromium (Playwright, no browser download) with N boards open, each signed in with its
own one-time link. Alerts are raised one at a time; for each, the time from the commit of its
unit of work (the engine's on_commit notice) until each open page's DOM shows its row (a
MutationObserver in the page stamps it). Both clocks are this machine's wall clock.

    python bench/board_latency.py                    # 100 alerts, 5 boards
    python bench/board_latency.py -n 30 --boards 2 --db postgresql

The alerts stay open, so the alerts panel grows to N cards: later alerts re-render a bigger panel.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from bench.alert_latency import start_as_served, stop_as_served  # noqa: E402
from bot import escalation  # noqa: E402
from bot.board.pages import routes  # noqa: E402
from bot.book import load_book, load_service  # noqa: E402
from bot.compose import build_app  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.model import Severity  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.transports.memory import MemoryTransport  # noqa: E402

PG_URL = os.environ.get("SAFERBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CHROMIUM = os.environ.get("SAFERBOT_TEST_CHROMIUM", "/usr/bin/chromium")
WATCH = """() => {
  window.__seen = {};
  const mark = () => document.querySelectorAll('[data-alert]').forEach(e => {
    if (!(e.dataset.alert in window.__seen)) window.__seen[e.dataset.alert] = Date.now();
  });
  new MutationObserver(mark).observe(document.getElementById('board'), {childList: true, subtree: true});
  mark();
}"""


def raise_one(tx, i: int) -> int:
    ladder = next(iter(tx.book.ladders.values()))
    alert = escalation.raise_alert(tx, kind="codeword", severity=Severity.high, ladder=ladder,
                                   title=f"Bench alert {i}", person=tx.person("alice"), branch="central")
    return alert.id


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def main(n: int, boards: int, db: str) -> None:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="saferbot-board-bench-"))
    schema = None
    if db == "postgresql":
        from tests.pgtest import Schema

        schema = Schema()
        db_url = schema.url
    else:
        db_url = str(tmp / "saferbot.db")
    s = Settings(db=db_url, codewords_file=ROOT / "codewords.yaml", service_file=ROOT / "config" /
                 "service.example.yaml", files_dir=tmp, board=True, board_url="http://127.0.0.1", _env_file=None)
    service = load_service(s.service_file)
    transport = MemoryTransport("console")
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), transports=[transport])
    await start_as_served(engine)
    commits: list[float] = []
    app = web.Application()
    app.add_routes(routes(engine))
    engine.on_commit.insert(0, lambda: commits.append(time.time()))  # stamped before the board hears of it
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            pages = []
            for k in range(boards):
                who = ("bob", "dana")[k % 2]
                await transport.say(who, "board")
                await engine.settle(5)
                token = re.search(r"t=(\S+)", transport.to(who)[-1].text).group(1)
                page = await (await browser.new_context()).new_page()
                await page.goto(f"{base}/board/login?t={token}")
                await page.get_by_role("button", name="Sign in").click()
                await page.locator('#live[data-state="live"]').wait_for(timeout=30_000)
                await page.evaluate(WATCH)
                pages.append(page)
            latencies: list[float] = []
            for i in range(n):
                before = len(commits)
                alert_id = await engine.perform(raise_one, i)
                committed = commits[before]
                for page in pages:
                    seen = await page.wait_for_function(f"() => window.__seen['{alert_id}']", timeout=30_000)
                    latencies.append(await seen.json_value() / 1000 - committed)
            await browser.close()
    finally:
        await runner.cleanup()
        await stop_as_served(engine)
        if schema is not None:
            schema.drop()
    ms = [x * 1000 for x in latencies]
    load = os.getloadavg()
    print(f"board latency: store commit -> DOM row, {n} alerts x {boards} open boards ({len(ms)} samples),"
          f" store {db}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print("| figure | ms |\n|---|---|")
    for name, value in (("p50", pct(ms, 50)), ("p90", pct(ms, 90)), ("p99", pct(ms, 99)), ("max", max(ms)),
                        ("mean", statistics.fmean(ms))):
        print(f"| {name} | {value:.0f} |")
    print(f"board_latency_p50_ms={pct(ms, 50):.1f}\nboard_latency_p99_ms={pct(ms, 99):.1f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=100, help="alerts, one at a time (default 100)")
    ap.add_argument("--boards", type=int, default=5, help="boards open at once (default 5)")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    a = ap.parse_args()
    asyncio.run(main(a.n, a.boards, a.db))
