"""Faults at process level: `saferbot run` as a subprocess on a temp database (issue #10).

Disk full is a file-size limit (RLIMIT_FSIZE) set on the running process from outside and
lifted again; a second process, kill -9, a corrupt file and console restarts are what they
say. Each test asserts what a person would notice: a reply, a card, a message, an exit.
"""

from __future__ import annotations

import os
import resource
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from tests.proc import Bot, blocks, bot_env

CODEWORD = "Is Mr Brown in today?"
COVER = "I'll have a look in the staff room for you."


def received(stdout: str, who: str, text: str) -> bool:
    return any(h.startswith(who) and text in b for h, b in blocks(stdout))


def started(bot: Bot) -> None:
    bot.wait_for(lambda s: "Type as a person" in s, 30, "the console starting")


def test_disk_full_codeword_still_gets_cover_reply_and_people_are_told_then_recovers(tmp_path):
    bot = Bot(bot_env(tmp_path), tmp_path)
    try:
        started(bot)
        bot.say(f"@alice {CODEWORD}")  # a normal alert first: the file has its tables and pages
        bot.wait_for(lambda s: received(s, "Bob Green", "Aggressive or threatening"), 10, "the first card")
        time.sleep(0.3)
        resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))  # disk full
        bot.say(f"@carol {CODEWORD}")
        bot.wait_for(lambda s: received(s, "Carol Jones", COVER), 10, "Carol's cover reply without the store")
        bot.wait_for(lambda s: received(s, "Bob Green", "NOT SAVED: Carol Jones"), 10, "the duty manager told")
        bot.wait_for(lambda s: received(s, "Dana Hughes", "cannot write to its database"), 10, "the admin told")
        resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        bot.say(f"@carol {CODEWORD}")  # the fault has cleared: a normal alert, no restart
        bot.wait_for(lambda s: received(s, "Bob Green", "From: Carol Jones"), 10, "a saved alert after")
        bot.wait_for(lambda s: received(s, "Dana Hughes", "can write to its database again"), 10, "recovery told")
        time.sleep(0.5)
    finally:
        bot.kill9()
    con = sqlite3.connect(tmp_path / "saferbot.db")
    assert con.execute("SELECT COUNT(*) FROM outbox WHERE status='sending'").fetchone()[0] == 0
    people = {r[0] for r in con.execute("SELECT person FROM alerts")}
    con.close()
    assert people == {"alice", "carol"}
    assert "Traceback" not in bot.stdout()


def test_console_keeps_input_after_a_restart(tmp_path):
    env = bot_env(tmp_path)
    for who in ("alice", "carol"):
        bot = Bot(env, tmp_path)
        try:
            started(bot)
            bot.say(f"@{who} {CODEWORD}")
            bot.wait_for(lambda s: COVER in s, 10, f"{who}'s cover reply after a restart")
            time.sleep(0.3)
        finally:
            bot.kill9()
    con = sqlite3.connect(tmp_path / "saferbot.db")
    assert sorted(r[0] for r in con.execute("SELECT person FROM alerts")) == ["alice", "carol"]
    con.close()


def test_data_files_are_private(tmp_path):
    bot = Bot(bot_env(tmp_path), tmp_path)
    try:
        started(bot)
        bot.say(f"@alice {CODEWORD}")
        bot.wait_for(lambda s: COVER in s, 10, "a cover reply")
        time.sleep(0.3)
        files = [tmp_path / n for n in ("saferbot.db", "saferbot.db-wal", "saferbot.db-shm")]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files if f.exists()}
    finally:
        bot.kill9()
    assert "saferbot.db" in modes and "saferbot.db-wal" in modes
    assert all(m == 0o600 for m in modes.values()), {k: oct(v) for k, v in modes.items()}


def run_to_exit(env: dict[str, str], cwd, timeout: float = 15) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr, time.monotonic() - t0


def test_a_corrupt_database_exits_at_once_with_one_clear_line(tmp_path):
    (tmp_path / "saferbot.db").write_bytes(os.urandom(64 * 1024))
    code, err, took = run_to_exit(bot_env(tmp_path), tmp_path)
    assert code == 2
    assert took < 5
    assert "Traceback" not in err
    assert "not a valid saferbot database" in err and "saferbot restore" in err


def test_an_unreadable_database_path_exits_clearly(tmp_path):
    (tmp_path / "dir.db").mkdir()
    code, err, took = run_to_exit(bot_env(tmp_path, SAFERBOT_DB=str(tmp_path / "dir.db")), tmp_path)
    assert code == 2 and took < 5
    assert "Traceback" not in err and "cannot open the database" in err


@pytest.fixture
def telegram_401():
    """A Bot API that refuses every token, as Telegram does a wrong one."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = b'{"ok":false,"error_code":401,"description":"Unauthorized"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_wrong_telegram_token_exits_with_the_fix(tmp_path, telegram_401):
    env = bot_env(tmp_path, SAFERBOT_TELEGRAM_TOKEN="123:wrong", SAFERBOT_TELEGRAM_API_URL=telegram_401)
    code, err, took = run_to_exit(env, tmp_path)
    assert code == 2 and took < 5, err
    assert "Traceback" not in err
    assert "SAFERBOT_TELEGRAM_TOKEN" in err and "123:wrong" not in err


def test_sigterm_exits_within_ten_seconds_while_a_platform_does_not_answer(tmp_path):
    import socket

    silent = socket.socket()  # accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    env = bot_env(tmp_path, SAFERBOT_TELEGRAM_TOKEN="123:abc", SAFERBOT_TELEGRAM_API_URL=url)
    try:
        bot = Bot(env, tmp_path)
        time.sleep(2.0)  # start-up is now waiting for the platform
        t0 = time.monotonic()
        bot.proc.terminate()
        try:
            bot.proc.wait(10)
        except subprocess.TimeoutExpired:
            bot.kill9()
            raise AssertionError("saferbot was still running 10 s after SIGTERM") from None
        assert time.monotonic() - t0 < 10
    finally:
        silent.close()
