"""The console as a newcomer meets it: help that explains @name, names in any case, and an end at EOF."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_console import start_console, type_line


async def test_help_explains_that_at_name_speaks_as_that_person(tmp_path, clock):
    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "help")
        text = out.getvalue().lower()
        assert "@name" in text and "as that person" in text
        assert "people" in text  # where the names come from
    finally:
        await engine.stop()


async def test_names_are_matched_without_regard_to_case(tmp_path, clock):
    engine, console, out = await start_console(tmp_path, clock)
    try:
        await type_line(engine, console, "@Alice Is Mr Brown in today?")
        text = out.getvalue()
        assert "--> Alice Smith [message 1]\n    I'll have a look in the staff room for you." in text
        assert "This number is for library staff" not in text
        await type_line(engine, console, "@BOB [Acknowledge]")
        assert "Acknowledged by Bob Green" in out.getvalue()
        alerts = await engine.store.read(lambda c: c.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])
        assert alerts == 1
    finally:
        await engine.stop()


def test_piped_input_ends_and_the_console_exits(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
    env.update(SAFERBOT_DB=str(tmp_path / "s.db"), SAFERBOT_LOG_LEVEL="WARNING",
               SAFERBOT_CODEWORDS_FILE=str(ROOT / "codewords.yaml"),
               SAFERBOT_SERVICE_FILE=str(ROOT / "config" / "service.example.yaml"))
    try:
        result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, text=True,
                                input="@alice Is Mr Brown in today?\n", capture_output=True, timeout=20)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the console kept running after its input ended; stdout:\n{e.stdout}") from None
    assert result.returncode == 0, result.stderr
    assert "I'll have a look in the staff room for you." in result.stdout
