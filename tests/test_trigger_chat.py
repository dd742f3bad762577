"""Admins manage panic buttons from chat too (list, test, disable, enable); a secret never goes through
chat, and nobody else may use the command."""

from __future__ import annotations

from tests.conftest import settle
from tests.trigger_kit import add, serve, signed_headers


async def test_an_admin_tests_and_disables_a_device_from_chat(harness):
    h = harness
    device, secret = await add(h.engine)
    await h.say("dana", "trigger list")
    assert f"{device}: Panic button: Central Library, front counter (signed, active, never heard)" in h.last("dana").text
    await h.say("dana", f"trigger test {device}")
    assert "that press is a test" in h.last("dana").text
    server = await serve(h.engine)
    try:
        async with server.http.post(f"{server.url}/trigger/{device}", headers=signed_headers(secret)) as r:
            assert r.status == 202 and (await r.json())["test"] is True
        await settle(h.engine)
        assert "TEST press from Central - front counter" in h.last("dana").text and h.sent("bob") == []
        await h.say("dana", f"trigger disable {device}")
        async with server.http.post(f"{server.url}/trigger/{device}", headers=signed_headers(secret)) as r:
            assert r.status == 401
        await h.say("dana", f"trigger enable {device}")
        async with server.http.post(f"{server.url}/trigger/{device}", headers=signed_headers(secret)) as r:
            assert r.status == 202 and (await r.json())["test"] is False
    finally:
        await server.stop()
    await h.say("dana", "trigger rotate " + device)
    assert "never passes through chat" in h.last("dana").text and "whsec_" not in h.last("dana").text


async def test_a_duty_manager_may_not_manage_panic_buttons(harness):
    device, _ = await add(harness.engine)
    await harness.say("bob", f"trigger disable {device}")
    assert (await harness.query("SELECT status FROM trigger_devices"))[0][0] == "active"
    assert device not in harness.last("bob").text
