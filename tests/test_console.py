"""The console transport and `saferbot demo`: what a newcomer sees with no accounts."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from bot.book import load_book, load_service
from bot.compose import build_app
from bot.engine import Engine
from bot.transports.console import ConsoleTransport
from tests.conftest import ROOT, make_settings


async def start_console(tmp_path, clock):
    out = io.StringIO()
    console = ConsoleTransport(out=out, read_stdin=False)
    s = make_settings(tmp_path / "c.db")
    service = load_service(s.service_file)
    engine = Engine(s, load_book(s.codewords_file, service), service, app=build_app(), clock=clock, transports=[console])
    await engine.start()
    return engine, console, out


async def type_line(engine, console, line):
    await console.handle_line(line)
    await engine.settle()


async def test_person_by_person_output_and_buttons_by_number_or_label(tmp_path, clock):
    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "@alice Is Mr Brown in today?")
        text = out.getvalue()
        assert "--> Alice Smith [message 1]\n    I'll have a look in the staff room for you." in text
        assert "--> Bob Green [message 2]" in text and "[1] Acknowledge  [2] Resolve  [3] Call police?" in text

        await type_line(engine, console, "@bob 1")
        assert "--> Bob Green [message 2 updated]" in out.getvalue()
        assert "Acknowledged by Bob Green" in out.getvalue()
        await type_line(engine, console, "@bob [resolve]")  # by label, case-insensitive
        assert "Resolved by Bob Green" in out.getvalue()
    finally:
        await engine.stop()


async def test_unknown_person_and_malformed_lines_get_clear_answers(tmp_path, clock):
    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "@nobody Is Mr Brown in today?")
        assert "This number is for library staff" in out.getvalue()
        assert "Bob Green" not in out.getvalue()
        await type_line(engine, console, "hello there")
        assert "Start with @name" in out.getvalue()
        await type_line(engine, console, "people")
        assert "@alice" in out.getvalue() and "Alice Smith (staff, Central Library)" in out.getvalue()
        alerts = await engine.store.read(lambda c: c.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])
        assert alerts == 0
    finally:
        await engine.stop()


def test_demo_plays_the_whole_scenario():
    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "SAFERBOT_LOG_LEVEL": "WARNING"},
                            stdin=subprocess.DEVNULL)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    steps = ["I'll have a look in the staff room for you.",  # cover reply
             "(tier 1 of 2)",  # tier 1 notified
             "climbs to tier 2",
             "Acknowledged by Dana Hughes",
             "Mr Brown has just come in",  # discreet confirmation to the sender
             "=== The alert's timeline",
             "climbing to tier 2",
             "resolved by Bob Green"]
    positions = [out.index(s) for s in steps]
    assert positions == sorted(positions)


async def test_button_numbers_are_stable_when_a_card_changes(tmp_path, clock):
    """Carol's number for Acknowledge never turns into Resolve after Bob acknowledges."""
    import re

    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "@carol on shift")
        await type_line(engine, console, "@alice Is Mr Brown in today?")
        carol = out.getvalue().split("--> Carol Jones")[-1]
        number = re.search(r"\[(\d+)\] Acknowledge", carol).group(1)
        bob = out.getvalue().split("--> Bob Green")[-1]
        await type_line(engine, console, "@bob " + re.search(r"\[(\d+)\] Acknowledge", bob).group(1))
        await type_line(engine, console, f"@carol {number}")  # meant as Acknowledge, on the old card
        status = await engine.store.read(lambda c: c.execute("SELECT status FROM alerts").fetchone()[0])
        assert status == "acked"
        assert "Already acknowledged by Bob Green" in out.getvalue()
    finally:
        await engine.stop()


async def test_typed_words_are_text_not_a_stale_button(tmp_path, clock):
    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "@alice lone 45m first")
        await type_line(engine, console, "@alice status")  # a reply with the first session's buttons
        await type_line(engine, console, "@alice finish")
        await type_line(engine, console, "@alice lone 45m second")
        await type_line(engine, console, "@alice finish")  # typed: ends the live session
        rows = await engine.store.read(lambda c: c.execute("SELECT status FROM lone_sessions ORDER BY id").fetchall())
        assert [r[0] for r in rows] == ["finished", "finished"]
        assert "already finished" not in out.getvalue()
    finally:
        await engine.stop()
