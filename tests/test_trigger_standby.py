"""A press that reaches a standby (PostgreSQL, two instances) is checked there as the active instance
would, stored in the relay table, answered 202, and raised once by the active instance; a retry of the
same webhook id to either instance raises nothing new; a forged press is refused and stores nothing."""

from __future__ import annotations

import asyncio

from bot import trigger_http
from bot.compose import build_app
from tests.conftest import make_settings, settle, start_engine
from tests.trigger_kit import add, forged_secret, serve, serve_routes, signed_headers


async def test_a_press_at_the_standby_is_raised_once_by_the_active_instance(schema, clock):
    h = await start_engine(schema.url, clock)
    active = await serve(h.engine)
    settings = make_settings(schema.url)
    standby = await serve_routes([r for routes in build_app().standby_routes for r in routes(settings)])
    try:
        device, secret = await add(h.engine)
        path = f"/trigger/{device}"
        async with standby.http.post(standby.url + path, headers=signed_headers(forged_secret())) as r:
            assert r.status == 401
        assert await h.query("SELECT id FROM relay") == []
        headers = signed_headers(secret)
        async with standby.http.post(standby.url + path, headers=headers) as r:
            assert r.status == 202
        for _ in range(500):  # the active instance takes relayed rows every RELAY_POLL seconds
            if await h.query("SELECT id FROM alerts"):
                break
            await asyncio.sleep(0.02)
        await settle(h.engine)
        assert "Panic button: Central Library, front counter" in h.seen("bob").text
        async with active.http.post(active.url + path, headers=headers) as r:  # the client retries at the active
            assert r.status == 202
        async with standby.http.post(standby.url + path, headers=headers) as r:  # and at the standby again
            assert r.status == 202
        for _ in range(500):
            if not await h.query("SELECT id FROM relay"):
                break
            await asyncio.sleep(0.02)
        assert len(await h.query("SELECT id FROM alerts")) == 1
        assert len(await h.query("SELECT id FROM trigger_presses")) == 1
        async with standby.http.get(standby.url + path + "/state", headers=signed_headers(secret)) as r:
            assert r.status == 503  # only the active instance knows
    finally:
        await standby.stop()
        await active.stop()
        await h.engine.stop()


def test_a_sqlite_standby_offers_no_trigger_routes(tmp_path):
    assert trigger_http.standby_routes(make_settings(tmp_path / "s.db")) == []
