"""Every bench in a quick mode, one table: figure, target, value, ratio to target, pass/fail.

    python -m bench                 # about 4 minutes on 2 cores; needs PostgreSQL (SAFERBOT_TEST_PG)
    python -m bench --accept        # and record these values as the new baseline
    python -m bench --only lone     # the benches whose name contains 'lone'

Each bench runs as its own process (as a person would run it) and its printed figures are read
back. bench/baseline.json holds the last accepted values: a figure more than 50% worse than its
baseline prints a warning, even when it still meets its target. Timings are not tests: this is
not part of the test suite nor of CI. Run it before resolving an issue that touches the engine,
store, outbox or transports, and paste its table in the closing note.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline.json"
WORSE = 1.5  # more than 50% worse than the baseline: a warning


@dataclass
class Figure:
    name: str
    target: float | None  # None: no target, watched against its baseline only
    unit: str
    lower_is_better: bool = True
    value: float = math.nan

    def ratio(self) -> float:
        """Value over target (lower is better) or target over value (higher is better); <= 1 meets it."""
        if self.target is None or math.isnan(self.value):
            return math.nan
        if self.lower_is_better:
            return self.value / self.target
        return self.target / self.value if self.value else math.inf

    def passed(self) -> bool | None:
        return None if self.target is None else (not math.isnan(self.value) and self.ratio() <= 1)

    def worse_than(self, base: float) -> bool:
        if math.isnan(self.value) or not base:
            return False
        return self.value > base * WORSE if self.lower_is_better else self.value < base / WORSE


def run(args: list[str], timeout: float = 240) -> str:
    """One bench as its own process; its stdout (and the tail of stderr if it failed)."""
    out = subprocess.run([sys.executable, *args], cwd=HERE.parent, capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    if out.returncode:
        sys.stderr.write(f"  {' '.join(args)} exited {out.returncode}:\n{out.stderr[-2000:]}\n")
    return out.stdout


def number(pattern: str, text: str, group: int = 1) -> float:
    m = re.search(pattern, text)
    return float(m.group(group)) if m else math.nan


def lone(figs: dict[str, Figure], db: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "lone.json"
        quick = ["-n", "10000", "--spread", "20"] if db == "sqlite" else ["-n", "2000", "--spread", "20", "--skip-c"]
        run(["bench/lone_timers.py", *quick, "--runs", "1", "--db", db, "--json", str(out)])
        got = json.loads(out.read_text()) if out.exists() else {}
    a, c = got.get("a", {}), got.get("c", {})
    figs[f"lone {db}: deadline+grace -> card p99"].value = a.get("p99_worst", math.nan)
    figs[f"lone {db}: deadline+grace -> card p50"].value = a.get("p50_median", math.nan)
    figs[f"lone {db}: CPU ms per escalation"].value = a.get("cpu_ms", math.nan)
    figs[f"lone {db}: statements per escalation"].value = a.get("statements", math.nan)
    if db == "postgresql":  # what a PostgreSQL escalation waits for: its reads and commits, not its statements
        figs["lone postgresql: round trips per escalation"].value = a.get("round_trips", math.nan)
    if db == "sqlite":
        figs["lone sqlite: peak RSS"].value = a.get("rss_mb", math.nan)
        figs["lone: restart, 1,000 overdue cards"].value = c.get("seconds", math.nan)


def cover(figs: dict[str, Figure]) -> None:
    text = run(["bench/failover.py", "--skip-takeover", "-n", "200", "--gap", "0.1"])
    pat = r"{db}\s+sender's cover reply\s+p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms"
    s50, s99 = (number(pat.format(db="sqlite"), text, g) for g in (1, 2))
    p50, p99 = (number(pat.format(db="postgresql"), text, g) for g in (1, 2))
    figs["cover reply sqlite p99"].value = s99
    figs["cover reply PostgreSQL / SQLite p50"].value = p50 / s50
    figs["cover reply PostgreSQL / SQLite p99"].value = p99 / s99


def telegram(figs: dict[str, Figure]) -> None:
    text = run(["bench/alert_latency.py", "--transport", "telegram", "-n", "20", "200"])
    for n in (20, 200):
        block = text.split(f"\n{n} codewords at once", 1)[-1]
        figs[f"telegram {n} at once: card within 10 s"].value = number(
            r"duty manager's card .*?within 10 s\s+([\d.]+)%", block)
    figs["telegram 200 at once: platform limit within 10 s"].value = number(
        r"platform allows at most ([\d.]+)%", text.split("\n200 codewords at once", 1)[-1])


def scheduler(figs: dict[str, Figure]) -> None:
    text = run(["bench/scheduler_lateness.py", "--runs", "1"])
    figs["scheduler: wake-up lateness p99"].value = max(
        (float(x) for x in re.findall(r"p99 (\d+)", text)), default=math.nan)


def panic(figs: dict[str, Figure]) -> None:
    text = run(["bench/trigger_latency.py", "-n", "200"])
    for db in ("sqlite", "postgresql"):
        press = number(rf"{db}\s+panic press -> card\s+n \d+\s+p50\s+[\d.]+ ms\s+p99\s+([\d.]+) ms", text)
        typed = number(rf"{db}\s+typed codeword -> card\s+n \d+\s+p50\s+[\d.]+ ms\s+p99\s+([\d.]+) ms", text)
        if db == "sqlite":
            figs["panic press sqlite: press -> card p99"].value = press
        figs[f"panic press {db}: press / typed codeword p99"].value = press / typed


def phone(figs: dict[str, Figure]) -> None:
    text = run(["bench/phone_latency.py", "-n", "100"])
    for name, label in (("text accepted at Notify", "text"), ("call placed at Twilio", "call")):
        figs[f"phone rung sqlite: codeword -> {label} p99"].value = number(
            rf"{name}\s+[\d.]+ms\s+([\d.]+)ms", text)


def board(figs: dict[str, Figure]) -> None:
    text = run(["bench/board_latency.py", "-n", "50", "--boards", "5"])
    figs["board sqlite: commit -> row in 5 open pages p99"].value = number(r"board_latency_p99_ms=([\d.]+)", text)


def figures() -> dict[str, Figure]:
    figs = [
        Figure("lone sqlite: deadline+grace -> card p99", 1000, "ms"),
        Figure("lone sqlite: deadline+grace -> card p50", 100, "ms"),
        Figure("lone sqlite: CPU ms per escalation", None, "ms"),
        Figure("lone sqlite: statements per escalation", None, ""),
        Figure("lone sqlite: peak RSS", 200, "MB"),
        Figure("lone: restart, 1,000 overdue cards", 3, "s"),
        Figure("lone postgresql: deadline+grace -> card p99", 1000, "ms"),
        Figure("lone postgresql: deadline+grace -> card p50", 100, "ms"),
        Figure("lone postgresql: CPU ms per escalation", None, "ms"),
        Figure("lone postgresql: statements per escalation", None, ""),
        Figure("lone postgresql: round trips per escalation", None, ""),
        Figure("cover reply sqlite p99", 100, "ms"),
        Figure("cover reply PostgreSQL / SQLite p50", 1.5, "x"),
        Figure("cover reply PostgreSQL / SQLite p99", 1.5, "x"),
        Figure("telegram 20 at once: card within 10 s", 80, "%", lower_is_better=False),
        Figure("telegram 200 at once: card within 10 s", 80, "%", lower_is_better=False),
        Figure("telegram 200 at once: platform limit within 10 s", None, "%", lower_is_better=False),
        Figure("scheduler: wake-up lateness p99", 1000, "ms"),
        Figure("panic press sqlite: press -> card p99", 100, "ms"),
        Figure("panic press sqlite: press / typed codeword p99", 1.0, "x"),
        Figure("panic press postgresql: press / typed codeword p99", 1.0, "x"),
        Figure("phone rung sqlite: codeword -> text p99", None, "ms"),
        Figure("phone rung sqlite: codeword -> call p99", None, "ms"),
        Figure("board sqlite: commit -> row in 5 open pages p99", 1000, "ms"),
    ]
    return {f.name: f for f in figs}


BENCHES: dict[str, Callable[[dict[str, Figure]], None]] = {
    "lone sqlite": lambda f: lone(f, "sqlite"),
    "lone postgresql": lambda f: lone(f, "postgresql"),
    "cover reply": cover,
    "telegram": telegram,
    "scheduler": scheduler,
    "panic press": panic,
    "phone rung": phone,
    "board": board,
}


def table(figs: dict[str, Figure], base: dict[str, float]) -> list[str]:
    rows = [f"{'figure':<50} {'target':>9} {'value':>9} {'ratio':>6}  result"]
    for f in figs.values():
        target = "-" if f.target is None else f"{'<=' if f.lower_is_better else '>='}{f.target:g}"
        value = "n/a" if math.isnan(f.value) else f"{f.value:.3g}{f.unit}" if f.value < 10 else f"{f.value:.0f}{f.unit}"
        ratio = "" if math.isnan(f.ratio()) else f"{f.ratio():.2f}"
        result = "not measured" if math.isnan(f.value) else {True: "pass", False: "FAIL", None: "-"}[f.passed()]
        if f.name in base and f.worse_than(base[f.name]):
            result += f"  WARNING: >50% worse than baseline {base[f.name]:.3g}"
        rows.append(f"{f.name:<50} {target:>9} {value:>9} {ratio:>6}  {result}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accept", action="store_true", help="record this run's values in bench/baseline.json")
    parser.add_argument("--only", default="", help="run only the benches whose name contains this")
    args = parser.parse_args()
    figs = figures()
    began = time.monotonic()
    for name, bench in BENCHES.items():
        if args.only in name:
            t = time.monotonic()
            print(f"running {name} ...", flush=True)
            bench(figs)
            print(f"  {time.monotonic() - t:.0f} s", flush=True)
    base = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    print(f"\nall benches in {time.monotonic() - began:.0f} s; baseline {BASELINE.name}"
          f" ({'none yet' if not base else 'a warning marks a figure more than 50% worse'})\n")
    print("\n".join(table(figs, base)))
    if args.accept:
        base |= {f.name: f.value for f in figs.values() if not math.isnan(f.value)}
        BASELINE.write_text(json.dumps(base, indent=1, sort_keys=True) + "\n")
        print(f"\nrecorded as the baseline in {BASELINE}")


if __name__ == "__main__":
    main()
