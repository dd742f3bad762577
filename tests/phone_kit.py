"""A real engine with the phone rung: the real Notify and Twilio clients against tests/fakes/notify.py and
tests/fakes/twilio.py, the callbacks served by bot/transports/phone_http.py, chat on a MemoryTransport,
and a clock that runs in real time but can jump (delivery_kit.JumpClock)."""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from bot import transports as bot_transports
from bot.book import load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from bot.settings import Settings
from bot.transports import phone_http
from bot.transports.memory import MemoryTransport
from handlers import phone_events
from tests.conftest import ROOT
from tests.delivery_kit import JumpClock
from tests.fakes import notify as fake_notify
from tests.fakes import twilio as fake_twilio

# numbers that deliver (not Notify's failing test numbers); carol has Notify's permanent-failure number
PHONES = {"alice": "07700 900111", "bob": "07700 900222", "carol": "07700900002", "dana": "07700 900444",
          "erin": "07700 900555", "fran": "07700 900666"}


SMS_TIER = [{"notify": ["duty-manager"], "wait": "2m", "sms": True},
            {"notify": ["role:admin"], "wait": "3m", "repeat": "forever"}]
CALL_TIER = [{"notify": ["duty-manager"], "wait": "2m", "call": True},
             {"notify": ["role:admin"], "wait": "3m", "repeat": "forever"}]


def bot_fixture(tiers: list[dict], verified: tuple[str, ...] = ()):
    """A pytest fixture: a PhoneBot with this `urgent` ladder (these people verified earlier), on both stores."""

    @pytest.fixture
    async def bot(tmp_path, db):
        b = await start(tmp_path, db, tiers)
        for who in verified:
            await b.verified_before(who)
        yield b
        await b.stop()

    return bot


def e164(number: str) -> str:
    return fake_notify.canonical(number)


def write_files(tmp: Path, tiers: list[dict], phones: dict[str, str]) -> tuple[Path, Path]:
    """The example roster with these phones, and the example book with the `urgent` ladder replaced by `tiers`."""
    service = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
    for key, number in phones.items():
        service["people"][key]["phone"] = number
    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    book["ladders"]["urgent"]["tiers"] = tiers
    (tmp / "service.yaml").write_text(yaml.safe_dump(service))
    (tmp / "codewords.yaml").write_text(yaml.safe_dump(book))
    return tmp / "service.yaml", tmp / "codewords.yaml"


class Later:
    """The engine, once it exists: the callback server is listening (its port known) before the engine is
    made with that address in its settings."""

    engine: Engine | None = None

    def __getattr__(self, name: str):
        return getattr(self.engine, name)


@dataclass
class PhoneBot:
    engine: Engine
    clock: JumpClock
    chat: MemoryTransport
    notify: fake_notify.FakeNotify
    twilio: fake_twilio.FakeTwilio
    runner: web.AppRunner
    url: str
    phones: dict[str, str]

    async def say(self, who: str, text: str) -> None:
        await self.chat.say(who, text)
        await self.settle()

    async def settle(self) -> None:
        assert await self.engine.settle(timeout=30), "the outbox did not settle"

    async def until(self, predicate, timeout: float = 30.0) -> None:
        """Wait for an outcome (a bound that only catches a hang); the predicate may be async."""
        end = time.monotonic() + timeout
        while True:
            got = predicate()
            if inspect.isawaitable(got):
                got = await got
            if got:
                break
            assert time.monotonic() < end, "timed out"
            await asyncio.sleep(0.02)
        await self.settle()

    async def on_timeline(self, alert_id: int, text: str) -> bool:
        return any(text in t for t in await self.timeline(alert_id))

    async def query(self, sql: str, *args):
        return await self.engine.store.read(lambda c: c.execute(sql, args).fetchall())

    async def timeline(self, alert_id: int) -> list[str]:
        return [r[0] for r in await self.query("SELECT text FROM alert_events WHERE alert_id=? ORDER BY id", alert_id)]

    def chat_texts(self, who: str) -> list[str]:
        return [d.text for d in self.chat.to(who) if d.kind == "send"]

    async def verify(self, who: str) -> None:
        """`phone verify` in chat, and the texted code typed back."""
        before = len(self.notify.to(self.phones[who]))
        await self.say(who, "phone verify")
        await self.until(lambda: len(self.notify.to(self.phones[who])) > before)
        code = self.notify.to(self.phones[who])[-1].body.split("code is ")[1][:6]
        await self.say(who, code)

    async def verified_before(self, who: str) -> None:
        """The person verified their number earlier, when it still worked (it may have died since)."""
        await self.engine.store.run(lambda c: [c.execute(
            "INSERT INTO contact_methods(person, channel, number, state, updated_at) VALUES(?,?,?,'verified',0)",
            (who, channel, e164(self.phones[who]))) for channel in ("sms", "voice")])

    async def stop(self) -> None:
        await self.engine.stop()
        await self.runner.cleanup()
        await self.notify.stop()
        await self.twilio.stop()


async def start(tmp: Path, db, tiers: list[dict], phones: dict[str, str] | None = None, **settings) -> PhoneBot:
    notify, twilio = fake_notify.FakeNotify(), fake_twilio.FakeTwilio()
    await notify.start()
    await twilio.start()
    later = Later()
    app = web.Application()
    app.add_routes(phone_http.routes(later, phone_events.on_event))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    notify.receipt_url, notify.inbound_url = url + phone_http.RECEIPT, url + phone_http.INBOUND
    phones = {**PHONES, **(phones or {})}
    service_file, codewords_file = write_files(tmp, tiers, phones)
    s = Settings(db=db, service_file=service_file, codewords_file=codewords_file, outbox_backoff=0.01,
                      outbox_backoff_max=0.05, _env_file=None, files_dir=tmp / "files",
                      notify_api_key=fake_notify.API_KEY, notify_sms_template=fake_notify.TEMPLATE,
                      notify_api_url=notify.url, notify_callback_token=fake_notify.CALLBACK_TOKEN,
                      twilio_account_sid=fake_twilio.ACCOUNT_SID, twilio_auth_token=fake_twilio.AUTH_TOKEN,
                      twilio_from=fake_twilio.FROM, twilio_api_url=twilio.url, phone_public_url=url, **settings)
    service = load_service(s.service_file)
    clock = JumpClock()
    chat = MemoryTransport("console")
    transports = [chat, *bot_transports.phones(s)]
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock,
                    transports=transports)
    later.engine = engine
    await engine.start()
    bot = PhoneBot(engine, clock, chat, notify, twilio, runner, url, phones)
    await bot.settle()
    return bot
