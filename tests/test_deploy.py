"""The files an IT team deploys with: the systemd unit, the container image and compose example."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from tests.conftest import ROOT


def unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # systemd keys are case-sensitive
    cp.read(ROOT / "config" / "saferbot.service")
    return cp


def test_systemd_unit_runs_as_its_own_user_with_watchdog_restart_and_hardening():
    s = unit()["Service"]
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) > 0  # bot/systemd.py sends READY and WATCHDOG
    assert s["User"] == "saferbot" and s["Restart"] in ("on-failure", "always")
    assert s["ExecStart"].endswith("saferbot run")
    for key, value in {"ProtectSystem": "strict", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
                       "ProtectHome": "yes", "UMask": "0077"}.items():
        assert s[key] == value, key
    assert s["StateDirectory"] == "saferbot"
    assert "Environment=SAFERBOT_DB=/var/lib/saferbot/saferbot.db" in (ROOT / "config" / "saferbot.service").read_text()


def test_systemd_analyze_accepts_the_unit():
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    result = subprocess.run(["systemd-analyze", "verify", str(ROOT / "config" / "saferbot.service")],
                            capture_output=True, text=True, timeout=60)
    # the only complaint allowed here: /opt/saferbot is not installed on this machine
    problems = [line for line in result.stderr.splitlines()
                if line.strip() and "/opt/saferbot" not in line and "Failed to" not in line]
    assert problems == []


def test_dockerfile_is_slim_non_root_with_a_data_volume_and_health_check():
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "USER saferbot" in text and "VOLUME /data" in text and "SAFERBOT_DB=/data/saferbot.db" in text
    assert "HEALTHCHECK" in text and "/healthz" in text and "curl" not in text.split("HEALTHCHECK")[1]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and "*.db" in ignored


def test_compose_keeps_the_database_on_a_volume():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot = compose["services"]["saferbot"]
    assert any(v.endswith(":/data") for v in bot["volumes"]) and bot["restart"] == "unless-stopped"
    assert "comes later" not in (ROOT / "compose.yaml").read_text()  # PostgreSQL is here: docs/postgresql.md


def docker_ok() -> str | None:
    if not shutil.which("docker"):
        return "docker is not installed"
    r = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    return None if r.returncode == 0 else "no Docker engine here (`docker info` failed)"


@pytest.mark.skipif(docker_ok() is not None, reason=str(docker_ok()))
def test_the_image_builds_and_starts_healthy():
    tag = f"saferbot-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=900)
    name = tag + "-run"
    try:
        uid = subprocess.run(["docker", "run", "--rm", tag, "id", "-u"], capture_output=True, text=True,
                             check=True, timeout=60).stdout.strip()
        assert uid != "0"
        check = subprocess.run(["docker", "run", "--rm", tag, "saferbot", "check-config"], timeout=60)
        assert check.returncode == 0
        # no -i and no token: the image's SAFERBOT_CONSOLE=false keeps it running (no end of input, no restarts)
        subprocess.run(["docker", "run", "-d", "--name", name, tag], check=True, timeout=60)
        status = ""
        for _ in range(60):
            status = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", name],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
            if status in ("healthy", "unhealthy"):
                break
            time.sleep(2)
        assert status == "healthy"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120)
