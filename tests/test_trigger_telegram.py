"""A panic-button press reaches the first tier's Telegram, through the real transport and the fake
Bot API, on both stores; pressing Acknowledge there turns the device's light to "acknowledged"."""

from __future__ import annotations

import asyncio

import pytest

from tests.delivery_kit import start_rig, until
from tests.fakes.telegram_api import FakeTelegram
from tests.trigger_kit import add, serve, signed_headers


@pytest.fixture
async def fake():
    f = FakeTelegram()
    await f.start()
    yield f
    await f.stop()


async def test_a_press_reaches_the_first_tier_on_telegram_and_their_ack_reaches_the_device(db, fake):
    rig = await start_rig(db, fake)
    server = await serve(rig.engine)
    try:
        device, secret = await add(rig.engine)
        async with server.http.post(f"{server.url}/trigger/{device}", headers=signed_headers(secret)) as r:
            assert r.status == 202
        await until(lambda: any("Panic button: Central Library, front counter" in m.text for m in rig.chat("bob")))
        card = next(m for m in rig.chat("bob") if "Panic button" in m.text)
        assert "Aggressive or threatening person" in card.text and "Acknowledge" in card.labels
        assert not any("Panic button" in m.text for m in rig.chat("alice"))  # not on shift: not in the first tier
        fake.press(fake.users[rig.ids["bob"]], card, "Acknowledge")

        async def state() -> str:
            async with server.http.get(f"{server.url}/trigger/{device}/state", headers=signed_headers(secret)) as r:
                return (await r.json())["state"]

        for _ in range(250):
            if await state() == "acknowledged":
                break
            await asyncio.sleep(0.02)
        assert await state() == "acknowledged"
    finally:
        await server.stop()
        await rig.engine.stop()
