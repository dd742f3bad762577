"""Panic buttons over HTTP: a press raises the device's codeword alarm with the place on the card,
on both stores; forged, replayed, expired, oversized and malformed requests are refused and store nothing."""

from __future__ import annotations

import json
import random
import time

import pytest
from standardwebhooks import Webhook

from bot import trigger_http
from handlers import trigger
from tests import trigger_kit
from tests.conftest import settle
from tests.trigger_kit import add, failing_presses, forged_secret, signed_headers

rig = trigger_kit.rig  # the fixture: an engine with its trigger routes served

PLACE = "Panic button: Central Library, front counter"


async def counts(h) -> tuple[int, int]:
    presses = (await h.query("SELECT COUNT(*) FROM trigger_presses"))[0][0]
    alerts = (await h.query("SELECT COUNT(*) FROM alerts"))[0][0]
    return presses, alerts


async def post(server, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict | None]:
    async with server.http.post(server.url + path, data=body, headers=headers or {}) as r:
        text = await r.text()
        return r.status, (json.loads(text) if r.content_type == "application/json" else None)


async def test_a_signed_press_raises_the_codeword_alarm_with_the_place_on_the_card(rig):
    h, server = rig
    device, secret = await add(h.engine)
    assert secret.startswith("whsec_")
    status, body = await post(server, f"/trigger/{device}", b"{}", signed_headers(secret, b"{}"))
    assert status == 202 and body["pressed"] == 1
    await settle(h.engine)
    card = h.seen("bob")  # Bob is the duty manager at Central: the urgent ladder's first tier
    assert card is not None and PLACE in card.text
    assert "Aggressive or threatening person" in card.text and "[HIGH]" in card.text
    assert "Acknowledge" in [b.label for b in card.buttons]
    assert "unknown" not in card.text  # no person raised it: the card says where, not "From: unknown"
    assert "Where: Central Library" in card.text
    row = (await h.query("SELECT kind, severity, branch FROM alerts"))[0]
    assert tuple(row) == ("trigger", "high", "central")


async def test_capability_presses_join_one_alarm_within_two_minutes(rig):
    h, server = rig
    device, token = await add(h.engine, "Central - staff room", kind="capability", place="staff room")
    stored = (await h.query("SELECT secret, token_hash FROM trigger_devices WHERE id=?", device))[0]
    assert stored[0] is None and stored[1] == trigger.token_hash(token) and token not in stored[1]
    for n in (1, 2, 3):
        async with server.http.get(f"{server.url}/trigger/{device}/{token}") as r:  # Shelly: a plain GET
            assert r.status == 202 and (await r.json())["pressed"] == n
        await h.advance(20)
    assert (await counts(h)) == (3, 1)
    assert "Panic button: Central Library, staff room (pressed 3 times)" in h.seen("bob").text
    await h.advance(trigger.JOIN_WINDOW + 1)
    async with server.http.post(f"{server.url}/trigger/{device}/{token}") as r:
        assert r.status == 202 and (await r.json())["pressed"] == 1
    assert (await counts(h)) == (4, 2)


async def test_a_retry_with_the_same_webhook_id_gets_the_same_answer_and_raises_nothing_new(rig):
    h, server = rig
    device, secret = await add(h.engine)
    headers = signed_headers(secret)
    first = await post(server, f"/trigger/{device}", b"", headers)
    again = await post(server, f"/trigger/{device}", b"", headers)
    assert first[0] == again[0] == 202 and first[1] == again[1]
    assert (await counts(h)) == (1, 1)


@pytest.mark.parametrize("case", ["forged", "unknown", "expired", "future", "oversized", "malformed", "not-object",
                                  "no-signature", "v2-only", "wrong-kind", "odd-id"])
async def test_bad_requests_are_refused_and_store_nothing(rig, case):
    h, server = rig
    device, secret = await add(h.engine)
    body, path, expect = b"{}", f"/trigger/{device}", 401
    headers = signed_headers(secret, body)
    if case == "forged":
        headers = signed_headers(forged_secret(), body)
    elif case == "unknown":
        path = "/trigger/central-back-office"
    elif case == "expired":
        headers = signed_headers(secret, body, at=time.time() - trigger_http.TOLERANCE - 30)
    elif case == "future":
        headers = signed_headers(secret, body, at=time.time() + trigger_http.TOLERANCE + 30)
    elif case == "oversized":
        body, expect = b"{" + b" " * trigger_http.MAX_BODY + b"}", 413
        headers = signed_headers(secret, body)
    elif case == "malformed":
        body, expect = b"{not json", 400
        headers = signed_headers(secret, body)
    elif case == "not-object":
        body, expect = b"[1, 2]", 400
        headers = signed_headers(secret, body)
    elif case == "no-signature":
        headers.pop("webhook-signature")
    elif case == "v2-only":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    elif case == "wrong-kind":  # a capability device's token is no use as a signing secret, nor the reverse
        cap, token = await add(h.engine, "Central - staff room", kind="capability", place="staff room")
        path = f"/trigger/{cap}"
    elif case == "odd-id":  # signed, but an id no store should be asked to keep
        headers = signed_headers(secret, body, msg_id="msg_\u00e9\u2028")
        headers = {k: v.encode().decode("latin-1") for k, v in headers.items()}
    status, _ = await post(server, path, body, headers)
    assert status == expect
    assert (await counts(h)) == (0, 0)
    assert h.seen("bob") is None


async def test_our_signatures_and_the_reference_librarys_agree():
    secret = trigger.new_secret()
    body = b'{"press": true}'
    now = int(time.time())
    ours = trigger_http.sign(secret, "msg_1", now, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": ours}
    assert Webhook(secret).verify(body, headers) == {"press": True}  # the reference verifies ours
    assert trigger_http.verify(secret, signed_headers(secret, body, msg_id="msg_2"), body, time.time())
    assert not trigger_http.verify(trigger.new_secret(), signed_headers(secret, body), body, time.time())


async def test_a_disabled_removed_or_rotated_device_is_refused_at_once(rig):
    h, server = rig
    device, secret = await add(h.engine)
    cap, token = await add(h.engine, "Central - staff room", kind="capability", place="staff room")
    new_secret = await h.engine.store.run(trigger.rotate, device)
    new_token = await h.engine.store.run(trigger.rotate, cap)
    assert (await post(server, f"/trigger/{device}", b"", signed_headers(secret)))[0] == 401
    assert (await post(server, f"/trigger/{cap}/{token}"))[0] == 401
    assert (await post(server, f"/trigger/{cap}/{new_token}"))[0] == 202
    await h.engine.store.run(trigger.set_status, device, "disabled")
    assert (await post(server, f"/trigger/{device}", b"", signed_headers(new_secret)))[0] == 401
    await h.engine.store.run(trigger.set_status, device, "active")
    assert (await post(server, f"/trigger/{device}", b"", signed_headers(new_secret)))[0] == 202
    await h.engine.store.run(trigger.remove, cap)
    assert (await post(server, f"/trigger/{cap}/{new_token}"))[0] == 401


async def test_forged_requests_never_use_up_the_real_buttons_rate_limit(rig):
    h, server = rig
    device, secret = await add(h.engine)
    for _ in range(trigger_http.RATE + 5):
        assert (await post(server, f"/trigger/{device}", b"", signed_headers(forged_secret())))[0] == 401
    assert (await post(server, f"/trigger/{device}", b"", signed_headers(secret)))[0] == 202
    codes = [(await post(server, f"/trigger/{device}/heartbeat", b"", signed_headers(secret)))[0]
             for _ in range(trigger_http.RATE)]
    assert codes[-1] == 429 and 200 in codes  # the device itself flooding is slowed


async def test_fuzzed_headers_and_bodies_never_get_a_server_error(rig):
    h, server = rig
    device, secret = await add(h.engine)
    good = signed_headers(secret, b"{}")
    rnd = random.Random(27)
    junk = ["", " ", "v1,", "v1,====", "v1,\u00e9", "v1,AAAA v1,BBBB", "1" * 40, "-5", "1e9", "%00",
            "whsec_", "v1," + "A" * 3000, str(int(time.time())), "nan", "9" * 13, "msg\u2028id"]
    paths = [f"/trigger/{device}", f"/trigger/{device}/state", f"/trigger/{device}/heartbeat",
             f"/trigger/{device}/x", "/trigger/..%2f..%2fetc", "/trigger/" + "a" * 300, "/trigger/%00/state",
             "/trigger/UPPER/abc", f"/trigger/{device}/{'t' * 5000}"]
    seen = set()
    for _ in range(150):
        headers = {k: v for k, v in good.items() if rnd.random() < 0.7}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            if rnd.random() < 0.4:
                headers[name] = rnd.choice(junk)
        headers = {k: v.encode("utf-8", "replace").decode("latin-1") for k, v in headers.items()}
        body = rnd.choice([b"", b"{}", b"\xff\xfe", b"null", b'{"a":' * 50, bytes(rnd.randrange(256) for _ in range(40))])
        method = rnd.choice(["GET", "POST", "PUT"])
        async with server.http.request(method, server.url + rnd.choice(paths), data=body, headers=headers) as r:
            seen.add(r.status)
            assert r.status < 500, (method, headers, body)
    assert 401 in seen
    assert (await counts(h))[1] <= 1  # only the untouched, genuinely signed "{}" could ever press


async def test_the_state_shows_the_raiser_that_help_is_coming(rig):
    h, server = rig
    device, secret = await add(h.engine)

    async def state() -> dict:
        async with server.http.get(f"{server.url}/trigger/{device}/state", headers=signed_headers(secret)) as r:
            assert r.status == 200
            return await r.json()

    assert (await state())["state"] == "ready"
    assert (await post(server, f"/trigger/{device}", b"", signed_headers(secret)))[0] == 202
    await settle(h.engine)
    assert (await state())["state"] == "raised"
    await h.press("bob", "Acknowledge")
    answer = await state()
    assert answer["state"] == "acknowledged" and answer["by"] == "Bob Green" and answer["on_their_way"] == ["Bob Green"]
    async with server.http.get(f"{server.url}/trigger/{device}/state", headers=signed_headers(forged_secret())) as r:
        assert r.status == 401


async def test_no_responder_on_duty_shows_on_the_device(rig):
    h, server = rig
    device, secret = await add(h.engine, "Riverside - desk", branch="riverside", place="desk")
    await h.advance(8 * 3600)  # 22:30 on the Wednesday: nobody on the Riverside rota
    status, body = await post(server, f"/trigger/{device}/heartbeat", b"", signed_headers(secret))
    assert status == 200 and body["state"] == "no responder on duty"


async def test_a_press_the_store_cannot_save_still_raises_the_alarm_and_the_client_retries(rig, monkeypatch):
    h, server = rig
    device, secret = await add(h.engine)
    failing = failing_presses(monkeypatch, h.engine)
    headers = signed_headers(secret)
    async with server.http.post(f"{server.url}/trigger/{device}", headers=headers) as r:
        assert r.status == 503 and r.headers["Retry-After"]
    texts = [d.text for d in h.transport.to("bob")]
    assert any("URGENT - NOT SAVED" in t and PLACE in t for t in texts)  # straight to the first tier
    assert any("NOT SAVED" in d.text for d in h.transport.to("dana"))  # and the admins
    failing[0] = False
    assert (await post(server, f"/trigger/{device}", b"", headers))[0] == 202  # the client's retry is stored
    assert (await counts(h)) == (1, 1)


async def test_a_press_whose_codeword_left_the_book_still_reaches_the_admins(rig):
    h, server = rig
    device, secret = await add(h.engine)
    await h.engine.store.run(lambda c: c.execute("UPDATE trigger_devices SET codeword='retired'"))
    assert (await post(server, f"/trigger/{device}", b"", signed_headers(secret)))[0] == 202
    await settle(h.engine)
    card = h.seen("dana")
    assert card is not None and "codeword 'retired' is gone" in card.text and PLACE in card.text


async def test_presses_arrive_on_the_healthz_server_itself(db, clock):
    """The bot's own HTTP server (bot/health.py, SAFERBOT_HEALTH_PORT) mounts the trigger routes."""
    import socket

    import aiohttp

    from bot.health import Health
    from tests.conftest import start_engine

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = await start_engine(db, clock, health_port=port)
    health = Health(h.engine, h.engine.settings)
    await health.start()
    try:
        device, secret = await add(h.engine)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/trigger/{device}", headers=signed_headers(secret)) as r:
                assert r.status == 202
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200  # an open panic alarm is not a fault of the bot
        await settle(h.engine)
        assert PLACE in h.seen("bob").text
    finally:
        await health.stop()
        await h.engine.stop()
