"""Two instances on PostgreSQL: takeover time after kill -9, and alert latency beside SQLite.

(a) takeover: two `saferbot run` processes on a fresh PostgreSQL schema with the fake Telegram;
    while codeword ladders climb, lone-working sessions run out and a lockdown roll call waits
    (tests/failover_kit.py), the active process is killed with -9 at N random points (a fresh
    standby started each time). Takeover = from the kill to the new active instance's first
    getUpdates on the fake Telegram: when it hears people again and sends what fell due meanwhile.
    p50 / p99 / max at the default lease (SAFERBOT_LEASE_TTL=5; target p99 <= 10 s), how late the
    escalation steps went out, and the audit of the run (nothing lost, nothing sent twice unmarked).
(b) alert latency, codeword to the wire: the real Telegram transport against the fake Telegram
    (bench/alert_latency.py), codewords `--gap` seconds apart from different people, on SQLite and
    on PostgreSQL: time until the sender's cover reply and the duty manager's card are received
    (sendMessage). p50 / p99 each, and PostgreSQL's p50 and p99 as multiples of SQLite's (target <= 1.5x).

(c) --freeze: the same scenario with SIGSTOP of the active process instead of kill -9, held until a
    standby has taken over (and 1 s more), then SIGCONT (tests/failover_rounds.py). The woken process
    must send nothing (its lease is not known valid by its own clock) and exit 2.
Both runs print: takeover p50/p99, codewords lost, sends after a lease was lost, unmarked doubles,
REPEAT-marked copies per 100 kills and cover replies doubled per 100 kills.

    python bench/failover.py                      # 20 kills at ttl 5, then 50 codewords on each store
    python bench/failover.py --kills 5 --ttl 1 --skip-latency
    python bench/failover.py --freeze 10 --kills 20 --skip-latency
    python bench/failover.py --flood 1500           # only the flood run (bench/flood.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alert_latency import PG_URL, pct, run_telegram  # noqa: E402
from tests import failover_kit as kit  # noqa: E402
from tests import failover_rounds as rounds  # noqa: E402

RATIO = 1.5  # PostgreSQL's cover reply and card at p50 and p99, as a multiple of SQLite's in the same run (issue #24)


@contextlib.asynccontextmanager
async def rounds_on_a_cluster(run, n: int, ttl: float | None, seed: int, pg_url: str):
    """A fresh cluster on a fresh schema, `n` rounds of `run` (kills or freezes), every ladder ended;
    yields the cluster, the rounds and the seconds it all took. Every process is gone afterwards."""
    from bench.alert_latency import database

    wire = kit.Wire()
    await wire.start()
    with tempfile.TemporaryDirectory() as tmp, database("postgresql", pg_url) as url:
        cluster = kit.Cluster(Path(tmp), wire, url, ttl=ttl)
        try:
            began = time.monotonic()
            took = await run(cluster, n, seed, log=lambda line: print("  " + line, flush=True))
            await kit.until(lambda: kit.settled(cluster), "every ladder ending", timeout=120)
            cluster.kill_all()
            yield cluster, took, time.monotonic() - began
        finally:
            cluster.kill_all()
            await wire.stop()


async def takeovers(kills: int, ttl: float | None, seed: int, pg_url: str) -> None:
    async with rounds_on_a_cluster(kit.run, kills, ttl, seed, pg_url) as (cluster, took, elapsed):
        seconds = [t.seconds for t in took]
        print(f"\n(a) takeover after kill -9 of the active instance, lease ttl {ttl or 5:g} s, seed {seed},"
              f" {elapsed:.0f} s in all")
        print(f"  kill -9 -> new active instance polling:  {kit.summary(seconds)}"
              f"   target p99 <= 10 s: {'met' if pct(seconds, 99) <= 10 else 'MISSED'}")
        print(f"  escalation steps after their wait was up: {kit.summary(kit.lateness(cluster))}")
        rows, doubt = cluster.query("SELECT COUNT(*), SUM(in_doubt) FROM outbox WHERE card IS NOT NULL"
                                    " AND kind='send'")[0]
        print(f"  cards queued {rows}, of them sent again marked REPEAT (claimed at a kill) {doubt}")
        problems = kit.audit(cluster)
        print(f"  audit (lost, doubled unmarked, skipped, early, missed check-ins): "
              f"{'nothing wrong' if not problems else f'{len(problems)} PROBLEMS'}")
        for p in problems:
            print("   ", p)
        print_figures(rounds.figures(cluster, kills), seconds, "kills")


# --- (c) freezes, and the figures both runs print ------------------------------------------------------
def print_figures(f: dict, seconds: list[float], what: str) -> None:
    def target(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"  takeover {kit.summary(seconds)}   target p99 <= 10 s: {target(pct(seconds, 99) <= 10)}")
    print(f"  codewords lost: {f['codewords lost']} of {f['codewords']}   target 0: {target(f['codewords lost'] == 0)}")
    print(f"  sends after a lease was lost: {f['sends after a lease was lost']}   target 0: "
          f"{target(f['sends after a lease was lost'] == 0)}")
    print(f"  unmarked doubles: {f['unmarked doubles']}   target 0: {target(f['unmarked doubles'] == 0)}")
    print(f"  REPEAT-marked copies per 100 {what}: {f['REPEAT copies per 100']:.1f}   target < 10: "
          f"{target(f['REPEAT copies per 100'] < 10)}")
    print(f"  cover replies doubled per 100 {what}: {f['cover replies doubled per 100']:.1f}")


async def freezes(n: int, ttl: float | None, seed: int, pg_url: str) -> None:
    async with rounds_on_a_cluster(rounds.run_freezes, n, ttl, seed, pg_url) as (cluster, took, elapsed):
        seconds = [t.seconds for t in took]
        print(f"\n(c) SIGSTOP of the active instance until a standby took over, then SIGCONT; lease ttl {ttl or 5:g}"
              f" s, seed {seed}, {elapsed:.0f} s in all")
        print(f"  SIGSTOP -> new active instance polling:  {kit.summary(seconds)}")
        print(f"  the woken process exited 2 (as a standby-to-be): {sum(t.exit_code == 2 for t in took)} of {n}")
        f = rounds.figures(cluster, n, took)
        for p in f["problems"]:
            print("   ", p)
        print_figures(f, seconds, "freezes")


def latency(n: int, gap: float, pg_url: str) -> None:
    print(f"\n(b) alert latency, codeword to the wire: {n} codewords {gap:g} s apart, real Telegram transport,"
          " fake Telegram; seconds")
    seen: dict[tuple[str, str, int], float] = {}
    for db in ("sqlite", "postgresql"):
        results, _ = asyncio.run(run_telegram(n, db, pg_url, gap))
        for label, times in results.items():
            values = list(times.values())
            for p in (50, 99):
                seen[(db, label, p)] = pct(values, p)
            missing = f"  NOT ARRIVED {n - len(values)}" if len(values) < n else ""
            print(f"  {db:<10} {label:<22} p50 {pct(values, 50) * 1000:7.1f} ms  p99 {pct(values, 99) * 1000:7.1f}"
                  f" ms  max {max(values) * 1000:7.1f} ms{missing}")
    for label in ("sender's cover reply", "duty manager's card"):
        for p in (50, 99):
            ratio = seen[("postgresql", label, p)] / seen[("sqlite", label, p)]
            print(f"  p{p} PostgreSQL / SQLite, {label:<22} {ratio:4.2f}x   target <= {RATIO:g}x: "
                  f"{'met' if ratio <= RATIO else 'MISSED'}")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kill -9s of the active instance (default 20)")
    parser.add_argument("--ttl", type=float, default=None, help="SAFERBOT_LEASE_TTL (default: the bot's, 5 s)")
    parser.add_argument("--seed", type=int, default=None, help="where the kills fall (default: random, printed)")
    parser.add_argument("-n", type=int, default=50, help="codewords for the latency run (default 50)")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between codewords (default 0.25)")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server (a schema is made and dropped)")
    parser.add_argument("--skip-takeover", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--freeze", type=int, default=0, metavar="N",
                        help="also N rounds of SIGSTOP/SIGCONT of the active instance (default 0)")
    # --- flood (bench/flood.py) ---------------------------------------------------------------------
    parser.add_argument("--flood", type=int, nargs="?", const=1500, default=0, metavar="CONNECTIONS",
                        help="only the flood run: half-open connections on the webhook port during codewords"
                             " (default 1500); prints codewords lost")
    # --- end flood ----------------------------------------------------------------------------------------
    args = parser.parse_args()
    if args.flood:  # --- flood (bench/flood.py) ---
        from bench import flood

        flood.report(asyncio.run(flood.flood(args.flood)))
        return
    if not args.skip_takeover:
        seed = args.seed if args.seed is not None else random.randrange(10**6)
        print(f"(a) {args.kills} kills, seed {seed}", flush=True)
        asyncio.run(takeovers(args.kills, args.ttl, seed, args.pg_url))
    if args.freeze:
        seed = args.seed if args.seed is not None else random.randrange(10**6)
        print(f"\n(c) {args.freeze} freezes, seed {seed}", flush=True)
        asyncio.run(freezes(args.freeze, args.ttl, seed, args.pg_url))
    if not args.skip_latency:
        latency(args.n, args.gap, args.pg_url)


if __name__ == "__main__":
    main()
