"""`saferbot trigger ...` as an admin uses it: the secret printed once works against the running bot,
a capability URL is stored only as a hash, `trigger test` makes the next press a logged test that never
escalates, and without SAFERBOT_HEALTH_PORT every verb says that presses cannot arrive."""

from __future__ import annotations

import re

import pytest

from bot import cli
from tests.conftest import ROOT, settle, start_engine
from tests.trigger_kit import serve, signed_headers


@pytest.fixture
def admin(db, monkeypatch, capsys):
    """Run a `saferbot` verb in this process against the test's store; returns (exit code, output)."""
    monkeypatch.setenv("SAFERBOT_DB", str(db))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
    monkeypatch.delenv("SAFERBOT_HEALTH_PORT", raising=False)

    def run(*argv: str, port: int | None = None) -> tuple[int, str]:
        if port:
            monkeypatch.setenv("SAFERBOT_HEALTH_PORT", str(port))
        code = cli.main(["trigger", *argv])
        out = capsys.readouterr()
        return code, out.out + out.err

    return run


ADD = ("add", "Central - front counter", "--branch", "central", "--place", "front counter", "--codeword", "mr-brown")


async def test_the_printed_secret_presses_and_a_test_press_never_escalates(db, clock, admin):
    code, out = admin(*ADD, port=8080)
    assert code == 0 and "POST http://<this server>:8080/trigger/central-front-counter" in out
    assert "SAFERBOT_HEALTH_PORT" not in out  # the port is set: no warning
    secret = re.search(r"secret:\s+(whsec_\S+)", out).group(1)
    code, out = admin("add", "Staff room", "--branch", "central", "--place", "staff room", "--codeword",
                      "red-folder", "--kind", "capability", port=8080)
    token = re.search(r"/trigger/staff-room/(\S+)", out).group(1)
    h = await start_engine(db, clock)
    server = await serve(h.engine)
    try:
        assert token not in str(await h.query("SELECT * FROM trigger_devices"))  # only its hash is kept
        assert admin("test", "central-front-counter")[0] == 0
        async with server.http.post(f"{server.url}/trigger/central-front-counter",
                                    headers=signed_headers(secret)) as r:
            assert r.status == 202 and (await r.json())["test"] is True
        await h.advance(600)
        assert any("TEST press from Central - front counter" in t for t in h.texts("dana"))
        assert h.sent("bob") == [] and await h.query("SELECT id FROM alerts") == []  # nothing escalated
        async with server.http.get(f"{server.url}/trigger/staff-room/{token}") as r:  # the next press is real
            assert r.status == 202
        await settle(h.engine)
        assert "[CRITICAL]" in h.seen("bob").text and "staff room" in h.seen("bob").text
        old = secret
        code, out = admin("rotate", "central-front-counter")
        async with server.http.post(f"{server.url}/trigger/central-front-counter", headers=signed_headers(old)) as r:
            assert r.status == 401
        assert "central-front-counter" in admin("list")[1] and "unmonitored" in admin("list")[1]
        assert admin("remove", "central-front-counter")[0] == 0
        assert admin("remove", "central-front-counter")[0] == 2
    finally:
        await server.stop()
        await h.engine.stop()


def test_without_the_http_port_every_verb_says_presses_cannot_arrive(admin, capsys):
    code, out = admin(*ADD)
    assert code == 0 and "set SAFERBOT_HEALTH_PORT" in out
    assert "set SAFERBOT_HEALTH_PORT" in admin("list")[1]
    assert "set SAFERBOT_HEALTH_PORT" in admin("test", "central-front-counter")[1]
    cli.main(["check-config"])
    assert "WARNING: panic buttons are registered. Presses need" in capsys.readouterr().out


def test_check_config_says_nothing_of_panic_buttons_when_there_are_none(admin, capsys):
    cli.main(["check-config"])
    assert "panic" not in capsys.readouterr().out


def test_a_codeword_that_raises_no_alarm_or_an_unknown_branch_is_refused(admin):
    code, out = admin("add", "x", "--branch", "nowhere", "--place", "p", "--codeword", "mr-brown")
    assert code == 2 and "no branch 'nowhere'" in out
    code, out = admin("add", "x", "--branch", "central", "--place", "p", "--codeword", "nothing")
    assert code == 2 and "no codeword 'nothing'" in out
    code, out = admin("add", "x", "--branch", "central", "--place", "p", "--codeword", "extra-hands")
    assert code == 2 and "does not raise an alarm" in out
