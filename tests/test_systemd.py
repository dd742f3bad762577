"""sd_notify over a real AF_UNIX datagram socket, as systemd provides it to a Type=notify service."""

from __future__ import annotations

import asyncio
import os
import socket

from bot import systemd


def listener(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    return s, path


def test_notify_is_a_no_op_outside_systemd(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    assert systemd.notify("READY=1") is False
    assert systemd.watchdog_interval() is None


def test_ready_reaches_the_socket(tmp_path, monkeypatch):
    s, path = listener(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    try:
        assert systemd.notify("READY=1")
        assert s.recv(256) == b"READY=1"
    finally:
        s.close()


async def test_watchdog_pings_every_half_interval_while_the_loop_runs(tmp_path, monkeypatch):
    s, path = listener(tmp_path)
    s.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # 0.1 s: a ping every 0.05 s
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    try:
        task = systemd.start_watchdog()
        assert task is not None
        await asyncio.sleep(0.3)
        await systemd.stop_watchdog(task)
        pings = []
        while True:
            try:
                pings.append(s.recv(64))
            except BlockingIOError:
                break
        assert set(pings) == {b"WATCHDOG=1"} and 4 <= len(pings) <= 8
    finally:
        s.close()


def test_watchdog_meant_for_another_process_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "x.sock"))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert systemd.watchdog_interval() is None


def test_saferbot_run_tells_systemd_ready_then_watchdog_then_stopping(tmp_path):
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    s, path = listener(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
    env.update(SAFERBOT_DB=str(tmp_path / "s.db"), SAFERBOT_LOG_LEVEL="WARNING", NOTIFY_SOCKET=path,
               WATCHDOG_USEC="200000", SAFERBOT_CODEWORDS_FILE=str(ROOT / "codewords.yaml"),
               SAFERBOT_SERVICE_FILE=str(ROOT / "config" / "service.example.yaml"))
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert s.recv(256) == b"READY=1"  # waits (5 s at most) until the engine has started
        time.sleep(0.5)  # the watchdog pings every 0.1 s while the loop runs
        _out, err = proc.communicate("quit\n", timeout=20)
        assert proc.returncode == 0, err
        s.setblocking(False)
        states = []
        while True:
            try:
                states.append(s.recv(256))
            except BlockingIOError:
                break
        assert states.count(b"WATCHDOG=1") >= 3 and states[-1] == b"STOPPING=1"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        s.close()
