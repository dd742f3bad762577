"""Panic-button latency: a signed press to the first tier's card at the fake Telegram, beside a typed
codeword in the same run, on SQLite and PostgreSQL.

One round: device i is pressed (POST /trigger/<device> with a Standard Webhooks signature, on the
bot's HTTP routes) and we wait for the duty manager's card at the fake Bot API; then person i types
the codeword to the fake Telegram and we wait for that card. Rounds run one after another, so each
figure is one alarm's latency, not a queue. Each press uses its own device (a second press of one
device within 2 minutes joins its alarm: no new card). Times are from the moment the request (or the
typed message) is handed over until the fake platform holds the card.

    python bench/trigger_latency.py                    # 200 rounds, SQLite then PostgreSQL
    python bench/trigger_latency.py -n 50 --db sqlite

Target (issue 27): no slower than the codeword; p99 <= 100 ms on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alert_latency import CODEWORD, PG_URL, database, pct, start_as_served, stop_as_served, tg_id  # noqa: E402
from bot.book import load_book  # noqa: E402
from bot.compose import build_app  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.model import Service  # noqa: E402
from bot.panic_client import signed  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers import trigger  # noqa: E402

GAP = 0.15  # seconds between rounds: three messages a round stay under Telegram's 30 a second overall


def boss(k: int) -> int:
    return 200_000 + k


def two_branches_a_round(n: int) -> Service:
    """Round i: device i at branch d<i> (duty manager m<2i>), person i at branch c<i> (duty manager m<2i+1>),
    so every card goes to a chat of its own: Telegram's one message a second per chat never queues it."""
    branches, people, rota = {}, {}, []
    for i in range(n):
        for k, b in ((2 * i, f"d{i}"), (2 * i + 1, f"c{i}")):
            branches[b] = {"name": f"Branch {b}"}
            people[f"m{k}"] = {"name": f"Manager {k}", "role": "duty_manager", "branch": b, "telegram": boss(k)}
            rota.append({"branch": b, "person": f"m{k}"})
        people[f"p{i}"] = {"name": f"Person {i:05d}", "role": "staff", "branch": f"c{i}", "telegram": tg_id(i)}
    return Service.model_validate({"branches": branches, "people": people, "rota": rota})


async def _card(fake, chat: int, needle: str, timeout: float = 10.0) -> float:
    """When `chat` first held a message containing `needle` (the fake's own clock)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for m in reversed(fake.inbox(chat)):
            if needle in m.text:
                return m.shown_at
        await asyncio.sleep(0.001)
    raise TimeoutError(f"no card with {needle!r}")


async def run(n: int, db: str, pg_url: str = PG_URL) -> dict[str, list[float]]:
    import aiohttp
    from aiohttp import web

    from bot.transports.telegram import TelegramTransport
    from tests.fakes.telegram_api import FakeTelegram

    fake = FakeTelegram()
    await fake.start()
    svc = two_branches_a_round(n)
    for uid, name in [(tg_id(i), f"P{i}") for i in range(n)] + [(boss(k), f"M{k}") for k in range(2 * n)]:
        fake.user(uid, name)
        fake.chats[uid] = {"id": uid, "type": "private", "first_name": name}
    out: dict[str, list[float]] = {"panic press -> card": [], "typed codeword -> card": [], "panic press -> 202": []}
    with database(db, pg_url) as target:
        settings = Settings(db=target, telegram_token=fake.token, telegram_api_url=fake.url, _env_file=None)
        transport = TelegramTransport(settings, poll_timeout=1, request_timeout=10)
        engine = Engine(settings, load_book(ROOT / "codewords.yaml", svc), svc, app=build_app(), transports=[transport])
        await start_as_served(engine)
        await asyncio.wait_for(transport.ready.wait(), 10)
        devices = []
        for i in range(n):
            devices.append(await engine.store.run(lambda c, i=i: trigger.add_device(
                c, engine.book, engine.service, name=f"desk {i:03d}", branch=f"d{i}", place=f"desk {i:03d}",
                codeword="mr-brown", kind="signed", by="bench", now=time.time())))
        app = web.Application()
        for routes in engine.app.http_routes:
            app.add_routes(routes(engine))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            for i, (device, secret) in enumerate(devices):
                headers = signed(secret, f"msg_{uuid.uuid4().hex}", b"{}", time.time())
                t0 = time.monotonic()
                async with http.post(f"{url}/trigger/{device}", data=b"{}", headers=headers) as r:
                    assert r.status == 202, r.status
                out["panic press -> 202"].append((time.monotonic() - t0) * 1000)
                out["panic press -> card"].append((await _card(fake, boss(2 * i), f"desk {i:03d}") - t0) * 1000)
                t0 = time.monotonic()
                fake.say(fake.users[tg_id(i)], CODEWORD)
                out["typed codeword -> card"].append((await _card(fake, boss(2 * i + 1), f"From: Person {i:05d}") - t0)
                                                     * 1000)
                await asyncio.sleep(GAP)
        await runner.cleanup()
        await stop_as_served(engine)
    await fake.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="rounds (presses, and as many codewords)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    for db in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        got = asyncio.run(run(args.n, db))
        for name, values in got.items():
            print(f"{db:<10} {name:<24} n {len(values)}  p50 {statistics.median(values):6.1f} ms"
                  f"  p99 {pct(values, 99):6.1f} ms  max {max(values):6.1f} ms")


if __name__ == "__main__":
    main()
