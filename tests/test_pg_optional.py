"""Without PostgreSQL the suite still passes and says what it skipped; under CI it fails instead."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.proc import ROOT


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


def _pytest(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "SAFERBOT_TEST_PG_REQUIRED")}
    base.update(SAFERBOT_TEST_PG=f"postgresql://postgres@127.0.0.1:{_closed_port()}/test", **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n0", "-rs",
                           "tests/test_store.py", "-k", "failing_unit"],
                          cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_no_postgresql_skips_its_half_and_says_how_to_enable_it():
    run = _pytest()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed, 1 skipped" in run.stdout
    assert "PostgreSQL tests skipped: no server at" in run.stdout and "SAFERBOT_TEST_PG=" in run.stdout


def test_ci_without_postgresql_fails():
    run = _pytest(SAFERBOT_TEST_PG_REQUIRED="1")
    assert run.returncode != 0
    assert "PostgreSQL is required here (CI) but unreachable" in run.stdout
