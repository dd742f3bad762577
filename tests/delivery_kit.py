"""Shared parts for the delivery tests: a real engine + the real Telegram transport against the
fake Bot API (optionally with its flood limits), people with Telegram ids, a clock that runs in
real time but can jump forward (so a ladder climbs without waiting minutes)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from bot.book import load_book, load_service
from bot.clock import Clock
from bot.compose import build_app
from bot.engine import Engine
from bot.messages import Inbound
from bot.model import Service
from bot.settings import Settings
from bot.transports.base import Transport
from bot.transports.telegram import TelegramTransport
from tests.conftest import AFTERNOON, ROOT
from tests.fakes.telegram_api import FakeTelegram

IDS = {"alice": 1001, "bob": 1002, "carol": 1003, "dana": 1004, "erin": 1005, "fran": 1006}
MR_BROWN = "Is Mr Brown in today?"


class JumpClock(Clock):
    """Real time from a Wednesday afternoon; `advance` jumps forward and wakes the engine."""

    def __init__(self, start: float = AFTERNOON):
        super().__init__("Europe/London")
        self.offset = start - time.time()
        self.listeners: list = []

    def now(self) -> float:
        return time.time() + self.offset

    async def advance(self, seconds: float) -> None:
        self.offset += seconds
        for listener in list(self.listeners):
            await listener()


@dataclass
class Rig:
    fake: FakeTelegram
    engine: Engine
    clock: JumpClock
    ids: dict[str, int]
    events: int = 0

    async def say(self, who: str, text: str) -> None:
        """`who` writes to the bot (handed straight to the engine: the platform may be down)."""
        self.events += 1
        uid = str(self.ids[who])
        await self.engine.receive(Inbound("telegram", f"t{self.events}", uid, uid, text=text))

    def chat(self, who: str) -> list:
        return self.fake.inbox(self.ids[who])

    async def query(self, sql: str, *args) -> list[tuple]:
        return await self.engine.store.read(lambda c: [tuple(r) for r in c.execute(sql, args).fetchall()])


def service_with_ids(base: Service, extra: dict[str, dict] | None = None, ids: dict[str, int] | None = None
                     ) -> Service:
    data = base.model_dump(by_alias=True)
    for key, uid in (ids or IDS).items():
        if key in data["people"]:
            data["people"][key]["telegram"] = uid
    data["people"].update(extra or {})
    return Service.model_validate(data)


async def start_rig(db: Path, fake: FakeTelegram, *, extra_people: dict[str, dict] | None = None,
                    extra_transports: list[Transport] = (), clock: JumpClock | None = None,
                    **settings) -> Rig:
    values = {"outbox_backoff": 0.01, "outbox_backoff_max": 0.05, **settings}
    s = Settings(db=db, codewords_file=ROOT / "codewords.yaml", service_file=ROOT / "config" / "service.example.yaml",
                 telegram_token=fake.token, telegram_api_url=fake.url, _env_file=None, **values)
    ids = dict(IDS)
    ids.update({k: v["telegram"] for k, v in (extra_people or {}).items() if "telegram" in v})
    service = service_with_ids(load_service(s.service_file), extra_people)
    for key, uid in ids.items():
        fake.user(uid, key.title())
        fake.chats[uid] = {"id": uid, "type": "private", "first_name": key.title()}
    clock = clock or JumpClock()
    transport = TelegramTransport(s, poll_timeout=1, request_timeout=2)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock,
                    transports=[transport, *extra_transports])
    await engine.start()
    return Rig(fake, engine, clock, ids)


async def until(predicate, timeout: float = 30.0) -> None:
    """Wait for an outcome (a generous bound that only catches a hang, never a latency)."""
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)
