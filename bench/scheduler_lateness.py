"""Wake-up lateness after a burst: 50 codewords at once, then single alerts.

Every alert's ladder waits 1 s before it climbs, so each alert makes a wake-up due 1 s after
it was raised. The bench records when the engine fired each wake-up and prints how late it
was beyond its due time: p50, p99 and max, for the burst's climbs and for the single alerts
that follow it (the case that used to stall for up to 30 s). Target: p99 <= 1 s.
Real engine, scheduler and SQLite file (WAL), real clock, in-memory transport.

    python bench/scheduler_lateness.py [--burst 50] [--singles 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alert_latency import pct, service, start_as_served, stop_as_served  # noqa: E402
from bot.book import load_book  # noqa: E402
from bot.compose import build_app  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.messages import Inbound  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.transports.memory import MemoryTransport  # noqa: E402

CODEWORD = "Is Mr Brown in today?"


def fast_book(svc):
    book = load_book(ROOT / "codewords.yaml", svc)
    ladders = {k: ladder.model_copy(update={"tiers": tuple(t.model_copy(update={"wait": 1}) for t in ladder.tiers)})
               for k, ladder in book.ladders.items()}
    return book.model_copy(update={"ladders": ladders})


async def run(burst: int, singles: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=Path(tmp) / "bench.db", _env_file=None)
        svc = service(burst + singles)
        engine = Engine(settings, fast_book(svc), svc, app=build_app(), transports=[MemoryTransport("console")])
        fired: dict[int, float] = {}
        real_fire = engine.fire

        async def fire(wid: int) -> None:
            fired.setdefault(wid, engine.clock.now())
            await real_fire(wid)

        engine.fire = fire  # type: ignore[method-assign]
        await start_as_served(engine)
        await asyncio.gather(*(engine.receive(Inbound("console", f"b{i}", f"p{i}", f"p{i}", text=CODEWORD))
                               for i in range(burst)))
        mark = engine.clock.now()
        await asyncio.sleep(1.5)
        for i in range(burst, burst + singles):
            await engine.receive(Inbound("console", f"s{i}", f"p{i}", f"p{i}", text=CODEWORD))
            await asyncio.sleep(0.3)
        await asyncio.sleep(2.0)
        rows = await engine.store.read(lambda c: c.execute(
            "SELECT id, due_at FROM wakeups WHERE kind='alert.climb' ORDER BY id").fetchall())
        await stop_as_served(engine)
    late = {wid: fired[wid] - due for wid, due in rows if wid in fired}
    missing = [wid for wid, _ in rows if wid not in fired and _ < mark + 0.5 + singles * 0.3]
    assert not missing, f"{len(missing)} wake-ups never fired"
    due = dict(rows)
    after = [v for wid, v in late.items() if due[wid] > mark + 1.4]
    during = [v for wid, v in late.items() if due[wid] <= mark + 1.4]
    return during, after


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--singles", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    print(f"wake-up lateness beyond due time (ms); burst of {a.burst}, then {a.singles} single alerts")
    for r in range(1, a.runs + 1):
        during, after = asyncio.run(run(a.burst, a.singles))
        line = []
        for name, v in (("burst climbs", during), ("every later wake-up (single alerts' climbs, repeats)", after)):
            ms = [x * 1000 for x in v]
            line.append(f"{name}: n={len(ms)} p50 {pct(ms, 50):.0f} p99 {pct(ms, 99):.0f} max {max(ms):.0f}")
        print(f"run {r}: " + " | ".join(line))


if __name__ == "__main__":
    main()
