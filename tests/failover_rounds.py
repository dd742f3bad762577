"""SIGSTOP/SIGCONT rounds of the failover scenario, and the figures bench/failover.py prints.

A freeze is the kill -9 of tests/failover_kit.py with the process kept: it is stopped until a
standby has taken over, then continued. It must learn that its lease is gone before it touches
the network (bot/outbox.py, bot/transports/gate.py) and exit 2. `figures` reads the store and the
fake Telegram after a run: codewords lost, sends after a lease was lost, unmarked doubles, and per
100 rounds the REPEAT-marked copies and the cover replies a sender got twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass

import yaml

from tests.failover_kit import (
    PHRASES,
    ROOT,
    TG,
    Cluster,
    Proc,
    Scenario,
    audit,
    fault_rounds,
    until,
    wire_cards,
)


@dataclass
class Freeze:
    """One SIGSTOP of the active process: the takeover, and what the old one sent after it woke."""

    at: float  # monotonic instant of the SIGSTOP
    seconds: float  # until the first getUpdates after it (the new active instance hearing people)
    tag: str  # the frozen process (its calls to the fake Telegram are tagged with it)
    woke: float  # monotonic instant of the SIGCONT; its lease had passed on by then
    exit_code: int | None


async def freeze_active(cluster: Cluster, active: Proc, hold: float = 1.0, timeout: float = 30.0,
                        burst: Scenario | None = None) -> Freeze:
    """SIGSTOP the active process until a standby has taken over (and `hold` s more), then SIGCONT it.

    With `burst`, three codewords are sent and the freeze comes at the active process's first
    message after them (the rest of the burst waits in its lanes), as in the reported split brain."""
    wire = cluster.wire
    if burst is not None:
        frozen: list[float] = []

        def freeze(caller: str) -> None:
            if caller == active.tag and not frozen:  # type: ignore[attr-defined]
                os.kill(active.proc.pid, signal.SIGSTOP)
                frozen.append(time.monotonic())

        wire.on_send = freeze
        for who, phrase in zip(("alice", "carol", "erin"), burst.rng.sample(PHRASES, 3), strict=True):
            burst.say(who, phrase)
        try:
            await until(lambda: frozen, "the active process's first send of the burst", active, timeout=timeout)
        finally:
            wire.on_send = None
        at = frozen[0]
    else:
        at = time.monotonic()
        os.kill(active.proc.pid, signal.SIGSTOP)
    cluster.start()
    try:
        first = await until(lambda: wire.calls_after(at, ("getupdates",)), "a takeover (getUpdates after the freeze)",
                            timeout=timeout)
        await asyncio.sleep(hold)  # the new active instance sends what the frozen one had claimed
    finally:
        woke = time.monotonic()
        os.kill(active.proc.pid, signal.SIGCONT)
    for _ in range(500):  # it must learn that its lease is gone and exit (2), not send
        if active.proc.poll() is not None:
            break
        await asyncio.sleep(0.02)
    return Freeze(at, first[0].at - at, active.tag, woke, active.proc.poll())  # type: ignore[attr-defined]


async def run_freezes(cluster: Cluster, rounds: int, seed: int, gap: tuple[float, float] = (0.2, 1.5),
                      log=print) -> list[Freeze]:
    """The same scenario as `run`, with SIGSTOP/SIGCONT of the active process instead of kill -9."""
    def tell(n: int, f: Freeze) -> str:
        late = len(cluster.wire.sends_by(f.tag, after=f.woke))  # asked once the next active instance is up
        return (f"freeze {n:2d}: the new active instance polled Telegram {f.seconds:.2f} s after the SIGSTOP; the"
                f" frozen one exited {f.exit_code} after SIGCONT, sending {late} message(s)")

    return await fault_rounds(  # every other freeze: at a burst
        cluster, rounds, seed, gap,
        lambda scenario, active, n: freeze_active(cluster, active, burst=scenario if n % 2 else None), tell, log)


def figures(cluster: Cluster, rounds: int, freezes: list[Freeze] = ()) -> dict[str, float]:
    """What the bench prints: codewords lost, sends after a lease was lost, unmarked doubles, and per
    100 kills (or freezes) the REPEAT-marked copies and the cover replies a sender got twice."""
    scenario: Scenario = cluster.scenario  # type: ignore[attr-defined]
    stored = {r[0] for r in cluster.query("SELECT key FROM inbound")}
    codewords = [(who, text, uid) for who, text, uid in scenario.updates if text in PHRASES]
    lost = sum(f"telegram:{uid}" not in stored for _, _, uid in codewords)
    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())["codewords"]
    cover = {p: c["cover_reply"] for c in book.values() for p in c["phrases"]}
    want = Counter((TG[who], cover[text]) for who, text, _ in codewords)
    got = Counter((chat, text) for chat, text, _ in cluster.wire.first if (chat, text) in want)
    doubled_covers = sum(max(0, n - want[k]) for k, n in got.items())
    marked = sum(n for (_, _, repeat), n in wire_cards(cluster.wire).items() if repeat)
    problems = audit(cluster)
    per100 = 100 / max(1, rounds)
    return {
        "codewords": len(codewords), "codewords lost": lost,
        "sends after a lease was lost": sum(len(cluster.wire.sends_by(f.tag, after=f.woke)) for f in freezes),
        "unmarked doubles": sum("unmarked copies" in p for p in problems),
        "REPEAT copies per 100": marked * per100, "cover replies doubled per 100": doubled_covers * per100,
        "problems": problems,  # type: ignore[dict-item]
    }
