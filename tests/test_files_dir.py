"""Charts and exports go to one private directory (SAFERBOT_FILES_DIR, default beside the database)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from tests.conftest import start_engine
from tests.test_incidents import run_cli


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


async def _chart_for_bob(h) -> Path:
    await h.say("alice", "log shouting at the enquiry desk")
    await h.say("bob", "report month")
    out = h.last("bob")
    assert out.attachment, out.text
    return Path(out.attachment)


async def test_chat_report_chart_is_private_beside_the_database_never_in_the_working_dir(
        tmp_path, clock, monkeypatch):
    work = tmp_path / "where-the-bot-was-started"
    work.mkdir()
    monkeypatch.chdir(work)
    os.umask(0o022)
    (tmp_path / "data").mkdir()
    h = await start_engine(tmp_path / "data" / "saferbot.db", clock)
    try:
        png = await _chart_for_bob(h)
    finally:
        await h.engine.stop()
    assert png.parent == tmp_path / "data" / "files"
    assert mode(png) == 0o600 and mode(png.parent) == 0o700
    assert list(work.iterdir()) == []


async def test_files_dir_setting_is_used_and_made_private(tmp_path, clock, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.umask(0o022)
    target = tmp_path / "private" / "reports"
    h = await start_engine(tmp_path / "saferbot.db", clock, files_dir=target)
    try:
        png = await _chart_for_bob(h)
    finally:
        await h.engine.stop()
    assert png.parent == target and mode(target) == 0o700 and mode(png) == 0o600


async def test_command_line_export_and_chart_are_written_private(harness, monkeypatch, tmp_path, capsys):
    os.umask(0o022)
    monkeypatch.chdir(tmp_path)  # on PostgreSQL there is no database folder: files/ goes in the working folder
    beside = harness.db.parent if isinstance(harness.db, Path) else tmp_path
    await harness.say("alice", "log shouting")
    out = tmp_path / "q4.csv"
    code = await asyncio.to_thread(run_cli, monkeypatch, harness.db, "export", "incidents", "--from", "2026-10-01",
                                   "--to", "2026-12-31", "--out", str(out))
    assert code == 0 and mode(out) == 0o600 and b"INC-2026-0001" in out.read_bytes()
    # --chart with no path: into the files directory, beside the (SQLite) database
    code = await asyncio.to_thread(run_cli, monkeypatch, harness.db, "report", "--month", "2026-11", "--chart")
    assert code == 0
    [png] = (beside / "files").glob("*.png")
    assert mode(png) == 0o600 and str(png) in capsys.readouterr().out
