"""The desktop panic client's logic, headless, against the real trigger endpoints: a press is kept and
sent again with the same webhook id until the bot stores it (never twice), the light follows the bot's
state, and the module works without pynput or pystray installed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from bot.panic_client import Client
from tests import trigger_kit
from tests.conftest import ROOT, settle
from tests.trigger_kit import add, failing_presses, forged_secret

rig = trigger_kit.rig  # the fixture: an engine with its trigger routes served


def test_the_client_logic_needs_neither_pynput_nor_pystray():
    code = ("import sys, bot.panic_client as c; assert c.Client and c.sign; "
            "assert not {'pynput', 'pystray', 'PIL'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


async def test_a_press_is_retried_until_stored_and_raised_once(rig, monkeypatch):
    h, server = rig
    device, secret = await add(h.engine)
    client = Client(f"{server.url}/trigger/{device}", secret)
    failing = failing_presses(monkeypatch, h.engine)
    await asyncio.to_thread(client.press)
    assert client.pending and client.label().startswith("Sending your alarm")
    assert any("URGENT - NOT SAVED" in d.text for d in h.transport.to("bob"))  # the alarm went out meanwhile
    await asyncio.to_thread(client.flush)  # still failing: still kept
    assert len(client.pending) == 1
    failing[0] = False
    assert await asyncio.to_thread(client.flush)  # stored now
    assert await asyncio.to_thread(client.flush)  # nothing left: nothing sent again
    assert len(await h.query("SELECT id FROM alerts")) == 1
    assert len(await h.query("SELECT id FROM trigger_presses")) == 1
    await settle(h.engine)
    await asyncio.to_thread(client.beat)
    assert client.state == "raised"
    await h.press("bob", "Acknowledge")
    await asyncio.to_thread(client.poll)
    assert client.state == "acknowledged" and client.label() == "Help is coming: Bob Green acknowledged"


async def test_no_connection_then_the_kept_press_arrives(rig):
    h, server = rig
    device, secret = await add(h.engine)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    changes: list[str] = []
    client = Client(f"http://127.0.0.1:{dead}/trigger/{device}", secret, on_change=changes.append)
    await asyncio.to_thread(client.beat)
    assert client.state == "no connection"
    await asyncio.to_thread(client.press)
    assert client.pending and await h.query("SELECT id FROM alerts") == []
    client.url = f"{server.url}/trigger/{device}"  # the network is back
    assert await asyncio.to_thread(client.flush)
    await settle(h.engine)
    assert "Panic button: Central Library, front counter" in h.seen("bob").text
    assert changes == ["raised"]  # the light: red (it started so) until the press was stored


async def test_a_wrong_secret_shows_refused_not_ready(rig):
    h, server = rig
    device, _ = await add(h.engine)
    client = Client(f"{server.url}/trigger/{device}", forged_secret())
    await asyncio.to_thread(client.beat)
    assert client.state == "refused"


async def test_the_script_mode_presses_once_and_says_so(rig, tmp_path, capsys):
    """`saferbot-panic --press` (Home Assistant shell_command, a script): exit 0 only once stored."""
    from bot import panic_client

    h, server = rig
    device, secret = await add(h.engine)
    (tmp_path / "s").write_text(secret + "\n")
    argv = ["--url", f"{server.url}/trigger/{device}/", "--secret-file", str(tmp_path / "s")]
    assert await asyncio.to_thread(panic_client.main, [*argv, "--beat"]) == 0
    assert "Ready" in capsys.readouterr().out
    assert await asyncio.to_thread(panic_client.main, [*argv, "--press"]) == 0
    assert "stored" in capsys.readouterr().out
    assert len(await h.query("SELECT id FROM alerts")) == 1
