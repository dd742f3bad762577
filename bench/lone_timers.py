"""Lone-working timers at scale: 10,000 live sessions.

(a) lateness: 10,000 sessions with deadlines staggered over --spread seconds (reminder lead 2 s,
    grace 1 s, real clock); for each missed check-in, how long after deadline + grace the duty
    manager's alert card is handed to the transport (p50 / p99 / max).
(b) peak RSS of the process that ran (a), and of the restarted process in (c).
(c) restart: a database with 10,000 live sessions of which 1,000 are past deadline + grace; a new
    process starts on it; time from process start (the parent's spawn) until all 1,000 escalation
    cards are handed to the transport.

(a) runs --runs times (each on a fresh store) because its lateness varies 2-4x from run to run on
    the same machine: it prints each run, then the median p50 with its spread and the worst p99.
    Beside lateness it counts the engine's work per escalated session (its reminder, "Are you OK?"
    and escalation): statements, write transactions and CPU ms of the whole process. These vary
    far less than lateness, so a change in them is a change in the code, not in the machine.

Real Engine, MemoryTransport; a real SQLite file (WAL) in a temp dir, or with --db postgresql a fresh
schema on SAFERBOT_TEST_PG (dropped afterwards).

    python bench/lone_timers.py                         # 3 runs of (a), then (b) and (c)
    python bench/lone_timers.py --db postgresql --skip-c
    python bench/lone_timers.py -n 2000 --spread 4 --runs 1 --skip-c --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.time()  # as early as possible: "process start" for the restarted child

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alert_latency import PG_URL, database, start_as_served, stop_as_served  # noqa: E402
from bot.book import load_book  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.compose import build_app  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.messages import Delivery  # noqa: E402
from bot.model import Book, Service  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import PgStore  # noqa: E402
from bot.transports.memory import MemoryTransport  # noqa: E402
from handlers.lone_session import open_session  # noqa: E402

TITLE = "[HIGH] Missed lone-working check-in"
BATCH = 500


def service(workers: int, branches: int = 100) -> Service:
    people = {f"w{i}": {"name": f"Worker {i}", "role": "staff", "branch": f"b{i % branches}",
                        "phone": f"+44 7700 {i:06d}"} for i in range(workers)}
    people |= {f"dm{b}": {"name": f"Manager {b}", "role": "duty_manager", "branch": f"b{b}"} for b in range(branches)}
    people["admin"] = {"name": "Admin", "role": "admin"}
    return Service.model_validate({
        "branches": {f"b{b}": {"name": f"Branch {b}"} for b in range(branches)},
        "people": people,
        "rota": [{"branch": f"b{b}", "person": f"dm{b}"} for b in range(branches)],
    })


def book(svc: Service, lead: int, grace: int) -> Book:
    b = load_book(ROOT / "codewords.yaml", svc)
    return b.model_copy(update={"lone_working": b.lone_working.model_copy(
        update={"reminder_lead": lead, "grace": grace})})


class Counting(MemoryTransport):
    """Keeps when each message was handed to it (outbox id -> perf_counter) and says when `target` escalation
    cards have gone out. It keeps no Delivery, as a real transport keeps none: holding all 40,000 of a run
    (150,000 buttons) made the bench's own heap most of the process, and each full garbage collection of it
    stopped the engine for up to 260 ms, which was then counted as the engine's lateness."""

    def __init__(self, target: int):
        super().__init__("console")
        self.target = target
        self.cards = 0
        self.done = asyncio.Event()
        self.handed: dict[int, float] = {}

    async def deliver(self, d: Delivery) -> str | None:
        self.handed[d.id] = time.perf_counter()
        if d.kind == "send" and d.text.startswith(TITLE):
            self.cards += 1
            if self.cards >= self.target:
                self.done.set()
        return d.message_ref if d.kind == "edit" else f"m{d.id}"


class Work:
    """Statements and write transactions the store runs while `on` (SQLite: its trace callback;
    PostgreSQL: every statement the connection sends, BEGIN counted as a transaction)."""

    def __init__(self) -> None:
        self.on = False
        self.statements = 0
        self.transactions = 0
        self.store = None  # PostgreSQL: its connection counts its own round trips (waits)
        self.waits = 0

    def saw(self, sql: str) -> None:
        if self.on:
            self.statements += 1
            if sql.lstrip()[:5].upper() == "BEGIN":
                self.transactions += 1

    def _counted(self, method):
        def counted(sql, *args):
            self.saw(sql)
            return method(sql, *args)
        return counted

    async def watch(self, engine: Engine) -> None:
        store = engine.store
        if isinstance(store, PgStore):
            self.store = store
            for name in ("execute", "executemany", "raw"):
                setattr(store._conn, name, self._counted(getattr(store._conn, name)))
        else:
            await store.read(lambda c: c.set_trace_callback(self.saw))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def rss_mb() -> float:
    """Peak RSS of this process. VmHWM, because Linux carries ru_maxrss over from the parent across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def insert(engine: Engine, svc: Service, deadlines: list[float]) -> None:
    """Open one session per worker, `deadlines[i]` (epoch) for worker i, in batches of BATCH per transaction."""

    def batch(tx, start: int) -> None:
        for i in range(start, min(start + BATCH, len(deadlines))):
            open_session(tx, svc.people[f"w{i}"], seconds=deadlines[i] - tx.now, note=f"visit {i}")

    for start in range(0, len(deadlines), BATCH):
        await engine.perform(batch, start)


# --- (a) lateness and (b) RSS -------------------------------------------------------------------------
async def lateness(n: int, spread: float, lead: int, grace: int, db: str) -> dict:
    svc = service(n)
    transport = Counting(n)
    engine = Engine(Settings(db=db, _env_file=None), book(svc, lead, grace), svc, app=build_app(), transports=[transport])
    await start_as_served(engine)
    work = Work()
    await work.watch(engine)
    first = time.time() + 2.0 + n * (0.003 if isinstance(engine.store, PgStore) else 0.0006)  # insert before the first reminder
    deadlines = [first + spread * i / n for i in range(n)]
    t = time.perf_counter()
    await insert(engine, svc, deadlines)
    inserted = time.perf_counter() - t
    work.on, cpu = True, time.process_time()
    waits = work.store._conn.waits if work.store else 0
    with contextlib.suppress(TimeoutError):  # report what did arrive
        await asyncio.wait_for(transport.done.wait(), timeout=first + spread + grace + 120 - time.time())
    cpu, work.on = time.process_time() - cpu, False
    waits = (work.store._conn.waits - waits) if work.store else float("nan")
    offset = time.time() - time.perf_counter()
    rows = await engine.store.read(lambda c: c.execute(
        "SELECT o.id, s.deadline, a.created_at FROM outbox o JOIN alerts a ON a.id=o.alert_id"
        " JOIN lone_sessions s ON s.id=CAST(a.ref AS INTEGER) WHERE a.kind='lone' AND o.tag='notify' AND o.kind='send'").fetchall())
    due = {r[0]: r[1] + grace for r in rows}
    fired = [r[2] - r[1] - grace for r in rows]  # when the escalation was recorded, after deadline + grace
    late = [at + offset - due[i] for i, at in transport.handed.items() if i in due]
    counts = await engine.store.read(lambda c: c.execute(
        "SELECT (SELECT COUNT(*) FROM alerts WHERE kind='lone'), (SELECT COUNT(*) FROM outbox),"
        " (SELECT COUNT(*) FROM wakeups)").fetchone())
    await stop_as_served(engine)
    return {"sessions": n, "insert_s": inserted, "escalated": len(late), "alerts": counts[0], "outbox_rows": counts[1],
            "wakeups": counts[2], "late": late, "fired": fired, "rss_mb": rss_mb(),
            "statements": work.statements / max(1, len(late)), "transactions": work.transactions / max(1, len(late)),
            "round_trips": waits / max(1, len(late)),
            "cpu_ms": cpu * 1000 / max(1, len(late))}


# --- (c) restart ------------------------------------------------------------------------------------
async def build_restart_db(db: Path, n: int, overdue: int) -> None:
    """10,000 live sessions written by an engine whose clock stands two hours back, so none fires now."""
    svc = service(n)
    now = time.time()
    clock = FakeClock(now - 7200)
    engine = Engine(Settings(db=db, _env_file=None), book(svc, 300, 300), svc, app=build_app(), clock=clock,
                    transports=[MemoryTransport("console")])
    await engine.start()
    # the first `overdue` sessions' deadlines passed 10-20 min ago (well past the 5 min grace); the rest later
    deadlines = [now - 600 - 600 * i / overdue if i < overdue else now + 3600 + 7200 * i / n for i in range(n)]
    await insert(engine, svc, deadlines)
    await engine.stop()


async def restart_child(db: Path, n: int, overdue: int) -> dict:
    svc = service(n)
    transport = Counting(overdue)
    engine = Engine(Settings(db=db, _env_file=None), book(svc, 300, 300), svc, app=build_app(), transports=[transport])
    t_engine = time.time()
    fired_at_start = await start_as_served(engine)  # the collection's pause counts in the time to the last card
    t_started = time.time()
    await asyncio.wait_for(transport.done.wait(), timeout=60)
    t_done = time.time()
    await engine.stop()
    return {"t0": T0, "t_engine": t_engine, "t_started": t_started, "t_done": t_done, "cards": transport.cards,
            "fired_at_start": fired_at_start, "rss_mb": rss_mb()}


def restart(n: int, overdue: int, tmp: Path) -> dict:
    db = tmp / "c.db"
    asyncio.run(build_restart_db(db, n, overdue))
    spawned = time.time()
    out = subprocess.run([sys.executable, __file__, "--restart-child", str(db), "-n", str(n),
                          "--overdue", str(overdue)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["spawned"] = spawned
    return r


def run_a(n: int, spread: float, runs: int, db: str, pg_url: str) -> dict:
    """(a) `runs` times on fresh stores; prints each run and the summary; returns the figures."""
    print(f"(a) {n} sessions on {db}, deadlines spread over {spread:g} s, reminder lead 2 s, grace 1 s, {runs} run(s)")
    results = []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp, database(db, pg_url) as url:
            a = asyncio.run(lateness(n, spread, 2, 1, url if db == "postgresql" else str(Path(tmp) / "a.db")))
        late = [x * 1000 for x in a["late"]] or [float("nan")]
        a |= {"p50": statistics.median(late), "p99": pct(late, 99), "max": max(late),
              "fired_p50": statistics.median([x * 1000 for x in a["fired"]] or [float("nan")])}
        results.append(a)
        print(f"    run {i + 1}: {a['escalated']}/{a['sessions']} escalated; deadline+grace -> card handed to the"
              f" transport p50 {a['p50']:.1f}  p99 {a['p99']:.1f}  max {a['max']:.1f} ms (recorded p50"
              f" {a['fired_p50']:.1f}); per escalated session: {a['statements']:.1f} statements,"
              f" {a['transactions']:.2f} transactions,"
              f" {a['round_trips']:.1f} round trips, {a['cpu_ms']:.2f} CPU ms; inserted in {a['insert_s']:.2f} s",
              flush=True)
    p50s, p99s = [r["p50"] for r in results], [r["p99"] for r in results]
    out = {"runs": runs, "p50_median": statistics.median(p50s), "p50_min": min(p50s), "p50_max": max(p50s),
           "p99_median": statistics.median(p99s), "p99_worst": max(p99s),
           "p99_over_1s": sum(p > 1000 for p in p99s), "escalated_min": min(r["escalated"] for r in results),
           "statements": statistics.median(r["statements"] for r in results),
           "transactions": statistics.median(r["transactions"] for r in results),
           "round_trips": statistics.median(r["round_trips"] for r in results),
           "cpu_ms": statistics.median(r["cpu_ms"] for r in results), "rss_mb": max(r["rss_mb"] for r in results)}
    print(f"    p50 median {out['p50_median']:.1f} ms (spread {out['p50_min']:.1f}-{out['p50_max']:.1f});"
          f" p99 median {out['p99_median']:.1f}, worst {out['p99_worst']:.1f} ms, over 1 s in {out['p99_over_1s']}"
          f" of {runs} runs   (target p99 <= 1000 in every run)")
    print(f"    work per escalated session (median): {out['statements']:.1f} statements,"
          f" {out['transactions']:.2f} write transactions, {out['round_trips']:.1f} round trips (PostgreSQL),"
          f" {out['cpu_ms']:.2f} CPU ms")
    print(f"(b) peak RSS of that process: {out['rss_mb']:.0f} MB   (target <= 200)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="live sessions (default 10,000)")
    parser.add_argument("--spread", type=float, default=20.0, help="deadlines spread over this many seconds")
    parser.add_argument("--runs", type=int, default=3, help="(a): runs, each on a fresh store (default 3)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server for --db postgresql (SAFERBOT_TEST_PG)")
    parser.add_argument("--overdue", type=int, default=1_000, help="(c): sessions overdue at restart")
    parser.add_argument("--restart-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--skip-a", action="store_true", help="only run the restart measurement")
    parser.add_argument("--skip-c", action="store_true", help="skip the restart measurement")
    parser.add_argument("--json", type=Path, help="also write the figures to this file (bench/__main__.py reads it)")
    args = parser.parse_args()
    if args.restart_child:
        print(json.dumps(asyncio.run(restart_child(args.restart_child, args.n, args.overdue))))
        return
    figures: dict = {}
    if not args.skip_a:
        figures["a"] = run_a(args.n, args.spread, args.runs, args.db, args.pg_url)
    if not args.skip_c:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"(c) restart with {args.n} live sessions, {args.overdue} overdue (SQLite)")
            c = restart(args.n, args.overdue, Path(tmp))
            figures["c"] = {"seconds": c["t_done"] - c["spawned"], "cards": c["cards"], "rss_mb": c["rss_mb"]}
            print(f"    {c['cards']} escalation cards handed to the transport {c['t_done'] - c['spawned']:.2f} s"
                  f" after the process was spawned (target <= 3 s)")
            print(f"    of which: interpreter + imports {c['t0'] - c['spawned']:.2f} s, to Engine() "
                  f"{c['t_engine'] - c['spawned']:.2f} s, engine.start() {c['t_started'] - c['t_engine']:.2f} s,"
                  f" then until the last card {c['t_done'] - c['t_started']:.2f} s; {c['fired_at_start']} wake-ups"
                  f" were overdue at start")
            print(f"    peak RSS of the restarted process: {c['rss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
