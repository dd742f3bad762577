"""Phone rung latency and throttling: the real Notify and Twilio clients against the in-repo fakes.

1. Latency: a codeword (alice, Central) whose ladder's first tier is chat only with `wait: 0s` and
   whose second tier texts and calls the duty manager (bob, verified). Per alarm, the time from
   handing the codeword to the engine until the text is accepted by the fake Notify and until the
   call is placed at the fake Twilio (the climb, the store, the outbox and the provider request in a
   thread). The alarms go one at a time, the clock jumping 3 hours between them so no throttle
   applies; p50/p99 over -n alarms (default 100).
2. Burst: 20 alarms at once to the same manager's phone: how many went by text and by call, how
   many were throttled (GoAlert's limits: texts 5 / 15 min, calls 3 / 15 min) and climbed at once.

    python bench/phone_latency.py                 # SQLite
    python bench/phone_latency.py --db postgresql -n 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import phone_kit  # noqa: E402

CODEWORD = "Is Mr Brown in today?"
TIERS = [{"notify": ["on-shift"], "wait": "0s"},
         {"notify": ["duty-manager"], "wait": "2m", "sms": True, "call": True},
         {"notify": ["role:admin"], "wait": "3m", "repeat": "forever"}]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def wait_for(predicate, timeout: float = 30.0) -> float:
    """perf_counter() when the predicate first held (polled every 2 ms)."""
    end = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > end:
            raise TimeoutError("no text or call arrived")
        await asyncio.sleep(0.002)
    return time.perf_counter()


async def start(db_kind: str, tmp: Path):
    db: str | Path = tmp / "saferbot.db"
    schema = None
    if db_kind == "postgresql":
        from tests import pgtest

        schema = pgtest.Schema()
        db = schema.url
    bot = await phone_kit.start(tmp, db, TIERS)
    await bot.verified_before("bob")
    return bot, schema


async def latency(n: int, db_kind: str) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as d:
        bot, schema = await start(db_kind, Path(d))
        bob = phone_kit.e164(bot.phones["bob"])
        sms, calls = [], []
        try:
            for _ in range(n):
                texts, rang = len(bot.notify.to(bob)), len(bot.twilio.to(bob))
                t0 = time.perf_counter()
                await bot.chat.say("alice", CODEWORD)
                await wait_for(lambda t=texts, r=rang: len(bot.notify.to(bob)) > t and len(bot.twilio.to(bob)) > r)
                sms.append(bot.notify.to(bob)[-1].at - t0)
                calls.append(bot.twilio.to(bob)[-1].at - t0)
                await bot.until(lambda: all(c.done for c in bot.twilio.calls))
                await bot.clock.advance(3 * 3600 + 1)  # out of every throttle window
                # one alarm at a time, as a person meets them: not faster than the phone platforms' 10 a second
                # (Limits.per_second), or every tenth text waits for the platform's rate and Bob's press of 1 on
                # the call, which cancels a text not yet sent, can beat it
                await asyncio.sleep(0.1)
        finally:
            await bot.stop()
            if schema:
                schema.drop()
    return sms, calls


async def burst(db_kind: str, alarms: int = 20) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as d:
        bot, schema = await start(db_kind, Path(d))
        bob = phone_kit.e164(bot.phones["bob"])
        bot.twilio.script(bob, "no-answer")  # nobody picks up: the worst case for the ladder
        try:
            await asyncio.gather(*(bot.chat.say("alice", CODEWORD) for _ in range(alarms)))
            await bot.settle()
            await bot.until(lambda: all(c.done for c in bot.twilio.calls))
            rows = await bot.query("SELECT channel, status, COUNT(*) FROM phone_sends GROUP BY channel, status")
            climbed = (await bot.query("SELECT COUNT(DISTINCT alert_id) FROM alert_events WHERE text LIKE"
                                       " '%throttled; climbing to tier 3 at once'"))[0][0]
            out = {f"{r[0]} {r[1]}": r[2] for r in rows}
            out["texts at fake Notify"] = len([s for s in bot.notify.to(bob) if s.body.startswith("saferbot alert")])
            out["calls at fake Twilio"] = len(bot.twilio.to(bob))
            out["alerts climbed at once (throttled)"] = climbed
            out["alarms"] = alarms
        finally:
            await bot.stop()
            if schema:
                schema.drop()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100, help="alarms for the latency figures")
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = ap.parse_args()
    os.environ.setdefault("SAFERBOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    print(f"machine: {os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    sms, calls = await latency(args.n, args.db)
    print(f"\ncodeword -> phone rung (tier 1 wait 0 s), {args.n} alarms, {args.db}:")
    print(f"{'':28}{'p50':>10}{'p99':>10}{'max':>10}")
    for name, xs in (("text accepted at Notify", sms), ("call placed at Twilio", calls)):
        print(f"{name:28}{statistics.median(xs) * 1000:>8.0f}ms{pct(xs, 99) * 1000:>8.0f}ms{max(xs) * 1000:>8.0f}ms")
    figures = await burst(args.db)
    print(f"\n{figures.pop('alarms')} alarms at once to one manager's phone (calls not answered):")
    for k, v in sorted(figures.items()):
        print(f"  {k:40}{v:>4}")


if __name__ == "__main__":
    asyncio.run(main())
