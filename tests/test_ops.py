"""Operations an IT admin runs: backup while the bot runs, restore (refused while it runs), doctor."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat

import pytest

from bot import cli
from bot.instance import InstanceLock
from tests.conftest import ROOT
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.fakes.telegram_api import FakeTelegram


def saferbot(monkeypatch, db, *argv: str, **env: str) -> int:
    for k in [k for k in os.environ if k.startswith("SAFERBOT_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("SAFERBOT_DB", str(db))
    monkeypatch.setenv("SAFERBOT_SERVICE_FILE", str(ROOT / "config" / "service.example.yaml"))
    monkeypatch.setenv("SAFERBOT_CODEWORDS_FILE", str(ROOT / "codewords.yaml"))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    try:
        return cli.main(list(argv))
    except SystemExit as e:
        return int(e.code or 0)


def count(db, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


async def test_backup_while_running_then_restore_round_trip(harness, monkeypatch, tmp_path, capsys):
    h = harness
    await h.say("alice", "Is Mr Brown in today?")
    await h.say("alice", "log shouting at the enquiry desk")
    copy = tmp_path / "backups" / "monday.db"
    if isinstance(h.db, str):  # PostgreSQL: the council's own pg_dump / managed backups, and we say so
        assert await asyncio.to_thread(saferbot, monkeypatch, h.db, "backup", str(copy)) == 2
        assert await asyncio.to_thread(saferbot, monkeypatch, h.db, "restore", str(copy)) == 2
        err = capsys.readouterr().err
        assert "pg_dump" in err and "pg_restore" in err and not copy.exists()
        return
    # the bot is still running (open connection, WAL): the backup is still a consistent copy
    assert await asyncio.to_thread(saferbot, monkeypatch, h.db, "backup", str(copy)) == 0
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert count(copy, "alerts") == 1 and count(copy, "incidents") == 1
    assert "integrity ok" in capsys.readouterr().out

    await h.say("carol", "log after the backup")  # a change the restore will take away
    await h.engine.stop()
    assert count(h.db, "incidents") == 2
    assert saferbot(monkeypatch, h.db, "restore", str(copy)) == 0
    out = capsys.readouterr().out
    assert count(h.db, "incidents") == 1 and count(h.db, "alerts") == 1
    saved = [p for p in tmp_path.iterdir() if p.name.startswith("saferbot.db.before-restore-")]
    assert len(saved) == 1 and count(saved[0], "incidents") == 2 and str(saved[0]) in out


def test_backup_refuses_to_overwrite_and_restore_refuses_a_damaged_file(tmp_path, monkeypatch, capsys):
    db = tmp_path / "saferbot.db"
    assert saferbot(monkeypatch, db, "backup", str(tmp_path / "b.db")) != 0  # no database yet
    sqlite3.connect(db).execute("CREATE TABLE schema_version(component TEXT, version INTEGER)").connection.commit()
    assert saferbot(monkeypatch, db, "backup", str(tmp_path / "b.db")) == 0
    assert saferbot(monkeypatch, db, "backup", str(tmp_path / "b.db")) != 0
    assert "already exists" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\x00" + b"\x07" * 5000)
    assert saferbot(monkeypatch, db, "restore", str(junk)) != 0
    assert "not a usable saferbot backup" in capsys.readouterr().err


def test_restore_is_refused_while_the_bot_is_running(tmp_path, monkeypatch, capsys):
    db = tmp_path / "saferbot.db"
    sqlite3.connect(db).execute("CREATE TABLE schema_version(component TEXT, version INTEGER)").connection.commit()
    assert saferbot(monkeypatch, db, "backup", str(tmp_path / "b.db")) == 0
    running = InstanceLock(db)  # what a running bot holds
    assert running.try_acquire()
    assert saferbot(monkeypatch, db, "restore", str(tmp_path / "b.db")) != 0
    assert "still running" in capsys.readouterr().err
    running.release()
    (tmp_path / "saferbot.db.lock").write_text("999999999 lib-vm1 2026-11-25T09:00:00+00:00\n")  # left by a crash
    assert saferbot(monkeypatch, db, "restore", str(tmp_path / "b.db")) == 0


@pytest.fixture
async def fakes():
    slack, tg = FakeSlack(), FakeTelegram()
    await slack.start()
    await tg.start()
    yield slack, tg
    await slack.stop()
    await tg.stop()


async def test_doctor_checks_tokens_store_and_clock_against_the_platforms(fakes, tmp_path, monkeypatch, capsys):
    slack, tg = fakes
    db = tmp_path / "saferbot.db"
    sqlite3.connect(db).execute("CREATE TABLE schema_version(component TEXT, version INTEGER)").connection.commit()
    env = dict(SAFERBOT_TELEGRAM_TOKEN=tg.token, SAFERBOT_TELEGRAM_API_URL=tg.url, SAFERBOT_SLACK_BOT_TOKEN=BOT_TOKEN,
               SAFERBOT_SLACK_APP_TOKEN=APP_TOKEN, SAFERBOT_SLACK_API_URL=slack.api_url)
    code = await asyncio.to_thread(saferbot, monkeypatch, db, "doctor", **env)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "@LibrarySaferBot" in out and "Fake Libraries" in out
    assert "integrity" in out and "free" in out and "Europe/London" in out
    assert "the example roster is in use" in out  # said, not failed
    assert tg.calls_of("getMe") and [c for c in slack.calls if c.method == "auth.test"]

    env.update(SAFERBOT_TELEGRAM_TOKEN="123456:wrong", SAFERBOT_SLACK_BOT_TOKEN="xoxb-wrong")
    code = await asyncio.to_thread(saferbot, monkeypatch, db, "doctor", **env)
    out = capsys.readouterr().out
    assert code != 0
    assert "Telegram refused the token" in out and "@BotFather" in out
    assert "Slack refused the bot token" in out and "OAuth & Permissions" in out


def test_doctor_finds_a_damaged_store_and_a_bad_config(tmp_path, monkeypatch, capsys):
    db = tmp_path / "saferbot.db"
    db.write_bytes(b"this is not a database at all" * 200)
    book = tmp_path / "codewords.yaml"
    book.write_text((ROOT / "codewords.yaml").read_text().replace("ladder: urgent", "ladder: urgnet", 1))
    code = saferbot(monkeypatch, db, "doctor", SAFERBOT_CODEWORDS_FILE=str(book))
    out = capsys.readouterr().out
    assert code != 0
    assert "unknown ladder 'urgnet'" in out
    assert "restore" in out  # the fix for a damaged store names the way back
    assert "no Telegram or Slack token" in out  # console only: said, not failed


async def test_backup_and_restore_leave_no_wal_or_shm_files(harness, monkeypatch, tmp_path):
    h = harness
    if isinstance(h.db, str):
        return  # PostgreSQL: pg_dump and pg_restore
    await h.say("alice", "log shouting at the enquiry desk")
    folder = tmp_path / "backups"
    copy = folder / "monday.db"
    assert await asyncio.to_thread(saferbot, monkeypatch, h.db, "backup", str(copy)) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["monday.db"]  # no .db.part-shm / .db.part-wal
    await h.engine.stop()
    before = {p.name for p in tmp_path.iterdir()}
    assert saferbot(monkeypatch, h.db, "restore", str(copy)) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["monday.db"]
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(("-shm", "-wal")))
    assert left == sorted(n for n in before if n.endswith(("-shm", "-wal")) and (tmp_path / n).exists()) == [], left


def test_status_into_a_closed_pipe_is_not_an_error(tmp_path):
    """`saferbot status | head -1`: the reader leaving early is no store error and no failure."""
    import subprocess
    import sys

    from tests.proc import bot_env

    env = bot_env(tmp_path)
    p = subprocess.Popen([sys.executable, "-m", "bot.cli", "status"], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader has gone before anything is written
    err = p.stderr.read().decode()
    assert p.wait(30) == 0, err
    assert "cannot read the store" not in err and "BrokenPipe" not in err, err
