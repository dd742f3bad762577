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

from tests.proc import ROOT, Bot, blocks, bot_env

EXIT_WITHIN = 120.0  # seconds: only a cap that catches a hang; how fast it exits is not asserted (a loaded machine)

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
        bot.wait_for(lambda s: received(s, "Bob Green", "Aggressive or threatening"), 60, "the first card")
        time.sleep(0.3)
        resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))  # disk full
        bot.say(f"@carol {CODEWORD}")
        bot.wait_for(lambda s: received(s, "Carol Jones", COVER), 60, "Carol's cover reply without the store")
        bot.wait_for(lambda s: received(s, "Bob Green", "NOT SAVED: Carol Jones"), 60, "the duty manager told")
        bot.wait_for(lambda s: received(s, "Dana Hughes", "cannot write to its database"), 60, "the admin told")
        resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        bot.say(f"@carol {CODEWORD}")  # the fault has cleared: a normal alert, no restart
        bot.wait_for(lambda s: received(s, "Bob Green", "From: Carol Jones"), 60, "a saved alert after")
        bot.wait_for(lambda s: received(s, "Dana Hughes", "can write to its database again"), 60, "recovery told")
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
        bot.wait_for(lambda s: COVER in s, 60, "a cover reply")
        time.sleep(0.3)
        files = [tmp_path / n for n in ("saferbot.db", "saferbot.db-wal", "saferbot.db-shm")]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files if f.exists()}
    finally:
        bot.kill9()
    assert "saferbot.db" in modes and "saferbot.db-wal" in modes
    assert all(m == 0o600 for m in modes.values()), {k: oct(v) for k, v in modes.items()}


def run_to_exit(env: dict[str, str], cwd, timeout: float = EXIT_WITHIN) -> tuple[int, str, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr, time.monotonic() - t0


def test_a_corrupt_database_exits_at_once_with_one_clear_line(tmp_path):
    (tmp_path / "saferbot.db").write_bytes(os.urandom(64 * 1024))
    code, err, took = run_to_exit(bot_env(tmp_path), tmp_path)
    assert code == 2
    assert "Traceback" not in err
    assert "not a valid saferbot database" in err and "saferbot restore" in err


def test_an_unreadable_database_path_exits_clearly(tmp_path):
    (tmp_path / "dir.db").mkdir()
    code, err, took = run_to_exit(bot_env(tmp_path, SAFERBOT_DB=str(tmp_path / "dir.db")), tmp_path)
    assert code == 2
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
    assert code == 2, err
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
        bot.proc.terminate()
        try:
            bot.proc.wait(60)
        except subprocess.TimeoutExpired:
            bot.kill9()
            raise AssertionError("saferbot was still running 60 s after SIGTERM (a hang)") from None
    finally:
        silent.close()


def test_a_second_process_refuses_naming_the_running_one(tmp_path):
    first = Bot(bot_env(tmp_path), tmp_path)
    try:
        started(first)
        code, err, took = run_to_exit(bot_env(tmp_path, SAFERBOT_STANDBY="false"), tmp_path)
    finally:
        first.kill9()
    assert code == 2
    assert f"pid {first.proc.pid}" in err and "already running" in err and "Traceback" not in err


def test_a_standby_sends_nothing_then_takes_over_after_kill_9_and_continues_the_ladder(tmp_path):
    import yaml

    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    for ladder in book["ladders"].values():
        for tier in ladder["tiers"]:
            tier["wait"] = "3s"
    codewords = tmp_path / "codewords.yaml"
    codewords.write_text(yaml.safe_dump(book))
    env = bot_env(tmp_path, SAFERBOT_CODEWORDS_FILE=str(codewords))
    first = Bot(env, tmp_path)
    started(first)
    second = Bot(env, tmp_path)
    try:
        second.wait_for(lambda s: True, 0.1, "")
        end = time.monotonic() + 15
        while time.monotonic() < end and not any("standby" in line for line in second.err):
            time.sleep(0.05)
        assert any(f"pid {first.proc.pid}" in line and "standby" in line for line in second.err), second.err
        first.say(f"@alice {CODEWORD}")
        first.wait_for(lambda s: received(s, "Bob Green", "tier 1 of"), 60, "tier 1")
        time.sleep(0.3)
        first.kill9()
        killed = time.monotonic()
        assert "-->" not in second.stdout()  # the standby sent nothing
        second.wait_for(lambda s: "Type as a person" in s, 60, "the standby taking over")
        took = time.monotonic() - killed
        second.wait_for(lambda s: received(s, "Bob Green", "tier 2 of"), 60, "the climb to tier 2 after takeover")
        time.sleep(0.5)
        out = second.stdout()
    finally:
        first.kill9()
        second.kill9()
    print(f"standby took over {took:.1f} s after kill -9")
    assert "cannot write" not in out
    con = sqlite3.connect(tmp_path / "saferbot.db")
    climbs = con.execute("SELECT COUNT(*) FROM alert_events WHERE kind='climbed'").fetchone()[0]
    con.close()
    assert climbs == 1, "the ladder climbed exactly once"


@pytest.fixture
def monitor():
    """An outside monitor's push URL (Healthchecks.io style): counts the calls."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[str] = []

    class Push(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            calls.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Push)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ping/abc", calls
    server.shutdown()


def healthz(port: int) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_heartbeat_url_and_health_endpoint_tell_the_outside_world(tmp_path, monitor):
    import socket

    url, calls = monitor
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot = Bot(bot_env(tmp_path, SAFERBOT_HEARTBEAT_URL=url, SAFERBOT_HEALTH_PORT=str(port)), tmp_path)
    try:
        started(bot)
        end = time.monotonic() + 10
        while not calls and time.monotonic() < end:
            time.sleep(0.05)
        assert calls == ["/ping/abc"]
        status, body = healthz(port)
        assert status == 200 and body["status"] == "ok"
        resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
        status, body = healthz(port)
        assert status == 503 and body == {"status": "unhealthy", "active": True}, body  # no errors, no names
        bot.wait_for(lambda _: any("/healthz: unhealthy" in line and "not writable" in line for line in bot.err), 5,
                     "the reasons in the log")
        resource.prlimit(bot.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert healthz(port)[0] == 200
    finally:
        bot.kill9()


def test_after_downtime_duty_managers_and_admins_hear_what_fell_due(tmp_path):
    import yaml

    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    book["lone_working"].update({"reminder_lead": "1s", "grace": "1s"})
    codewords = tmp_path / "codewords.yaml"
    codewords.write_text(yaml.safe_dump(book))
    # who is on duty must not depend on the day or the hour this runs: Bob every day, nobody else
    service = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
    service.update(rota=[{"branch": "central", "person": "bob"}], overrides=[])
    service_file = tmp_path / "service.yaml"
    service_file.write_text(yaml.safe_dump(service))
    env = bot_env(tmp_path, SAFERBOT_CODEWORDS_FILE=str(codewords), SAFERBOT_SERVICE_FILE=str(service_file))
    first = Bot(env, tmp_path)
    try:
        started(first)
        first.say("@alice lone 2s closing")
        first.wait_for(lambda s: "Lone working started at" in s, 60, "the session starting")
    finally:
        first.kill9()
    con = sqlite3.connect(tmp_path / "saferbot.db")  # the bot was down for ten minutes
    con.execute("UPDATE heartbeat SET at=at-600")
    con.commit()
    con.close()
    time.sleep(3.5)
    second = Bot(env, tmp_path)
    try:
        for who in ("Bob Green", "Dana Hughes"):
            second.wait_for(lambda s, who=who: received(s, who, "saferbot was offline from"), 60, f"{who} told")
        out = second.stdout()
    finally:
        second.kill9()
    told = [b for h, b in blocks(out) if "saferbot was offline" in b]
    assert len(told) == 2  # once each, not per branch
    assert "1 missed lone-working check-in" in told[0]
    assert not any(h.startswith("Alice Smith") and "offline" in b for h, b in blocks(out))


def test_a_port_in_use_exits_with_the_setting_to_change(tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        env = bot_env(tmp_path, SAFERBOT_HEALTH_PORT=str(taken.getsockname()[1]))
        code, err, took = run_to_exit(env, tmp_path)
    finally:
        taken.close()
    assert code == 2, err
    assert "Traceback" not in err and "already in use" in err and "SAFERBOT_HEALTH_PORT" in err
