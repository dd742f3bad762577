"""A flood of half-open connections on the Telegram webhook port while codewords come in.

A real `saferbot run` (SQLite, Telegram webhook mode against the fake Telegram) with the open-file
limit systemd gives a service by default (1024), and SIZE connections that send half a request's
headers and then wait, re-opened as soon as they are closed. Codewords are sent during the flood
and after it. Prints: codewords sent during / after the flood, raised, lost (never raised), the
seconds from send to alert (p50 / max), the log's size, and whether the process survived.
Target: 0 lost under a 1,500-connection flood.

    python bench/flood.py                         # 1500 connections, 10 s, 9 codewords during it
    python bench/flood.py --size 3000 --seconds 20 --nofile 512
    python bench/failover.py --flood 1500         # the same, from the failover bench
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.test_flood import Flood, LimitedProc  # noqa: E402
from tests.test_intake_confirmed import World, free_port, listening, until  # noqa: E402

SENDERS = {"alice": 1001, "carol": 1002, "erin": 1005}  # codewords during the flood
OTHERS = {"bob": 1004, "fran": 1006, "dana": 1007}  # and after it
PHRASES = {"mr-brown": "Is Mr Brown in today?", "red-folder": "Can someone bring the red folder",
           "stock-check": "Time for the stock check"}


def _alerts(w: World) -> dict[tuple[str, str], float]:
    try:
        return {(p, r): at for p, r, at in w.query("SELECT person, ref, created_at FROM alerts")}
    except Exception:
        return {}


async def flood(size: int = 1500, seconds: float = 10.0, nofile: int = 1024, timeout: float = 90.0) -> dict:
    fake = FakeTelegram()
    await fake.start()
    for key, uid in {**SENDERS, **OTHERS}.items():
        fake.user(uid, key.title())
        fake.chats[uid] = {"id": uid, "type": "private", "first_name": key.title()}
    tmp = Path(tempfile.mkdtemp(prefix="saferbot-flood-"))
    port = free_port()
    w = World(tmp, {k: {"telegram": v} for k, v in {**SENDERS, **OTHERS}.items()},
              SAFERBOT_TELEGRAM_TOKEN=fake.token, SAFERBOT_TELEGRAM_API_URL=fake.url,
              SAFERBOT_TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram-hook",
              SAFERBOT_TELEGRAM_WEBHOOK_SECRET="s3cret", SAFERBOT_TELEGRAM_WEBHOOK_PORT=str(port))
    proc = LimitedProc(w.env, tmp, "run1", nofile)
    w.procs.append(proc)
    f = Flood(port, size)
    task = None
    sent: dict[tuple[str, str], tuple[float, str]] = {}  # (person, codeword) -> (wall time sent, when)
    try:
        await until(lambda: fake.webhook and listening(port), "the webhook being set", proc, timeout=30)
        task = asyncio.create_task(f.run())
        await asyncio.sleep(min(2.0, seconds / 4))
        plan = [(p, c) for c in PHRASES for p in SENDERS]
        gap = (seconds - min(2.0, seconds / 4)) / (len(plan) + 1)
        for person, code in plan:
            fake.say(fake.users[SENDERS[person]], PHRASES[code])
            sent[(person, code)] = (time.time(), "during")
            await asyncio.sleep(gap)
        await asyncio.sleep(gap)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        opened = f.opened
        f.close()
        after = {(p, "mr-brown") for p in OTHERS}
        for person in OTHERS:  # after the flood: other people (one live alert per person and codeword)
            fake.say(fake.users[OTHERS[person]], PHRASES["mr-brown"])
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(_alerts(w)) < len(sent) + len(after) and proc.proc.poll() is None:
            await asyncio.sleep(0.2)
        raised = _alerts(w)
        during_raised = [k for k in sent if k in raised]
        delays = [raised[k] - sent[k][0] for k in during_raised]
        log = proc.output()
        result = {
            "connections": size, "opened": opened, "nofile": nofile, "seconds": seconds,
            "sent_during": len(sent), "raised_during": len(during_raised),
            "lost_during": len(sent) - len(during_raised),
            "raised_total": len(raised), "sent_total": len(sent) + len(after),
            "lost_total": len(sent) + len(after) - len(raised),
            "p50": statistics.median(delays) if delays else float("nan"), "max": max(delays, default=float("nan")),
            "log_lines": len(log.splitlines()), "log_kb": len(log) // 1024, "alive": proc.proc.poll() is None,
        }
    finally:
        if task is not None:
            task.cancel()
        f.close()
        w.kill_all()
        await fake.stop()
    return result


def report(r: dict) -> None:
    print(f"flood: {r['connections']} half-open connections ({r['opened']} opened in all) on the webhook port, "
          f"{r['seconds']:.0f} s, open-file limit {r['nofile']}")
    print(f"  codewords sent during the flood: {r['sent_during']}, raised {r['raised_during']}, "
          f"lost {r['lost_during']}")
    print(f"  codewords lost in all (during and after): {r['lost_total']} of {r['sent_total']}")
    print(f"  send -> alert during the flood: p50 {r['p50']:.2f} s, max {r['max']:.2f} s")
    print(f"  log: {r['log_lines']} lines, {r['log_kb']} KB; process {'alive' if r['alive'] else 'DEAD'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1500, help="half-open connections held (default 1500)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the flood lasts (default 10)")
    parser.add_argument("--nofile", type=int, default=1024, help="the bot's open-file limit (default 1024)")
    args = parser.parse_args()
    report(asyncio.run(flood(args.size, args.seconds, args.nofile)))


if __name__ == "__main__":
    main()
