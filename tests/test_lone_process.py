"""Process level: `saferbot run` is killed with -9 mid-session, and the missed check-in still escalates once.

Real processes, real clock, a temp SQLite file and a codeword book with a 1 s reminder lead and 1 s
grace. The console transport reads `@alice ...` lines on stdin and prints each delivery on stdout.
"""

from __future__ import annotations

import os
import sqlite3
import time

import yaml

from tests.proc import ROOT, Bot, any_time_service, blocks

TITLE = "Missed lone-working check-in"


def escalations(stdout: str) -> list[str]:
    """Who received a new (not edited) missed-check-in alert card."""
    return [h.split(" [message")[0] for h, b in blocks(stdout) if TITLE in b and not h.endswith("updated]")]


def test_kill_9_mid_session_then_restart_escalates_exactly_once(tmp_path):
    book = yaml.safe_load((ROOT / "codewords.yaml").read_text())
    book["lone_working"].update({"reminder_lead": "1s", "grace": "1s"})
    codewords = tmp_path / "codewords.yaml"
    codewords.write_text(yaml.safe_dump(book))
    db = tmp_path / "saferbot.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
    env.update(SAFERBOT_DB=str(db), SAFERBOT_CODEWORDS_FILE=str(codewords), PYTHONUNBUFFERED="1",
               SAFERBOT_SERVICE_FILE=str(any_time_service(tmp_path)),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))

    first = Bot(env, tmp_path)
    try:
        first.wait_for(lambda s: "Type as a person" in s, 20, "the console starting")
        first.say("@alice lone 2s closing")
        first.wait_for(lambda s: "Lone working started at" in s, 10, "the session starting")
        started = time.monotonic()
    finally:
        first.kill9()  # before the reminder (1 s), the deadline (2 s) and the escalation (3 s)
    assert escalations(first.stdout()) == []

    time.sleep(max(0.0, started + 3.5 - time.monotonic()))  # the deadline and the grace pass while down

    second = Bot(env, tmp_path)
    try:
        took = second.wait_for(lambda s: escalations(s), 15, "the escalation after restart")
        second.wait_for(lambda s: "alerted the duty manager" in s, 5, "the worker being told")
        # wait until the store records the card as delivered, then die hard again
        end = time.monotonic() + 5
        while time.monotonic() < end:
            con = sqlite3.connect(db)
            sent = con.execute("SELECT COUNT(*) FROM outbox WHERE tag='notify' AND status='sent'").fetchone()[0]
            con.close()
            if sent:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        stdout = second.stdout()
    finally:
        second.kill9()
    who = escalations(stdout)
    assert who == ["Bob Green"]  # the duty manager, at any hour (any_time_service)
    print(f"escalation reached the transport {took:.2f} s after the restarted process began")
    alice = [b for h, b in blocks(stdout) if h.startswith("Alice Smith")]
    assert any("Are you OK?" in b and "alerted the duty manager" in b for b in alice)

    third = Bot(env, tmp_path)
    try:
        end = time.monotonic() + 20
        while time.monotonic() < end and not any("saferbot running on" in line for line in third.err):
            time.sleep(0.05)
        time.sleep(1.0)  # time enough for anything overdue to go out
        stdout = third.stdout()
    finally:
        third.kill9()
    assert "Type as a person" in stdout
    assert escalations(stdout) == []
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM alerts WHERE kind='lone'").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM outbox WHERE tag='notify'").fetchone()[0] == 1
    con.close()
