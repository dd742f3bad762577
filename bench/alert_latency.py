"""Alert latency: 200 codewords from 200 people at once.

Measures, per codeword, the time from handing the inbound message to the engine until
(a) the first outgoing message of that alert is handed to the transport, and
(b) the duty manager's alert card is handed to the transport.
Real engine, real SQLite file (WAL), in-memory transport. Run: python bench/alert_latency.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import handlers  # noqa: E402, F401  (the entry point composes the capabilities)
from bot.book import load_book  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.messages import Inbound  # noqa: E402
from bot.model import Service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.transports.memory import MemoryTransport  # noqa: E402


def service(n: int) -> Service:
    people = {f"p{i}": {"name": f"Person {i:03d}", "role": "staff", "branch": "central"} for i in range(n)}
    people["boss"] = {"name": "Duty Manager", "role": "duty_manager", "branch": "central"}
    return Service.model_validate({
        "branches": {"central": {"name": "Central"}},
        "people": people,
        "rota": [{"branch": "central", "person": "boss"}],
    })


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(n: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db=Path(tmp) / "bench.db", _env_file=None)
        svc = service(n)
        transport = MemoryTransport("console")
        engine = Engine(settings, load_book(ROOT / "codewords.yaml", svc), svc, transports=[transport])
        await engine.start()
        started: dict[str, float] = {}

        async def send(i: int) -> None:
            key = f"p{i}"
            started[key] = time.perf_counter()
            await engine.receive(Inbound("console", f"e{i}", key, key, text="Is Mr Brown in today?"))

        await asyncio.gather(*(send(i) for i in range(n)))
        for _ in range(2000):
            cards = [r for r in transport.records if r.delivery.chat_id == "boss"]
            if len(cards) >= n:
                break
            await asyncio.sleep(0.01)
        first: dict[str, float] = {}
        card: dict[str, float] = {}
        for r in transport.records:
            d = r.delivery
            if d.chat_id == "boss":
                who = next(line for line in d.text.splitlines() if line.startswith("From: "))
                key = "p" + str(int(who.split("Person ")[1][:3]))
                card.setdefault(key, r.at)
                first[key] = min(first.get(key, r.at), r.at)
            elif d.chat_id in started:
                first[d.chat_id] = min(first.get(d.chat_id, r.at), r.at)
        await engine.stop()
        assert len(card) == n, f"only {len(card)} of {n} alerts reached the duty manager"
        return {
            "first outgoing message": [(first[k] - started[k]) * 1000 for k in started],
            "duty manager's alert card": [(card[k] - started[k]) * 1000 for k in started],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="codewords sent at once (default 200)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.n} codewords from {args.n} people at once; {args.runs} runs; times in ms")
    for run_no in range(1, args.runs + 1):
        results = asyncio.run(run(args.n))
        for label, values in results.items():
            print(f"run {run_no}  {label:<28} p50 {statistics.median(values):7.1f}  p99 {pct(values, 99):7.1f}"
                  f"  max {max(values):7.1f}")
    print("target: p99 <= 100 ms for the first outgoing message")


if __name__ == "__main__":
    main()
