"""docs/postgresql.md's worked example, typed line by line into an interactive shell on a terminal:
two `saferbot run &` jobs must keep running (a background job that reads the terminal is stopped by
the shell, "Stopped (tty input)", and with it every alarm), and the standby takes over after kill -9."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import time

from tests.conftest import ROOT

DOC = (ROOT / "docs" / "postgresql.md").read_text()


def example() -> list[str]:
    block = re.search(r"A worked example on one machine.*?```sh\n(.*?)```", DOC, re.S)
    assert block, "the worked example is gone from docs/postgresql.md"
    return [line.split("  #")[0].rstrip() for line in block.group(1).splitlines() if line.strip()]


class Terminal:
    """An interactive bash with job control on a pseudo-terminal, as an admin's SSH session has."""

    def __init__(self, cwd, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a login-like interactive shell owning the terminal
            os.chdir(cwd)
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.out = ""

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def wait_for(self, pattern: str, seconds: float = 90) -> str:
        end = time.monotonic() + seconds  # a generous limit on waiting, not a measured duration
        while not re.search(pattern, self.out, re.S):
            assert time.monotonic() < end, f"never saw {pattern!r} in:\n{self.out[-3000:]}"
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    self.out += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:
                    break
        return self.out

    def close(self) -> None:
        """Stop every job the example left running, then the shell."""
        self.type("kill $(jobs -p) 2>/dev/null; wait; exit")
        end = time.monotonic() + 30
        while time.monotonic() < end and os.waitpid(self.pid, os.WNOHANG) == (0, 0):
            with contextlib.suppress(OSError):
                if select.select([self.fd], [], [], 0.2)[0]:
                    os.read(self.fd, 65536)
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_the_postgresql_worked_example_works_as_typed(schema, tmp_path):
    for name in (".venv", "codewords.yaml", "config"):
        (tmp_path / name).symlink_to(ROOT / name)
    lines = example()
    assert lines[0].startswith("export SAFERBOT_DB=postgresql://")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TERM": "dumb", "PS1": "$ ",
           "SAFERBOT_LEASE_TTL": "1"}  # a short lease so the takeover comes soon
    term = Terminal(tmp_path, env)
    try:
        term.type(f"export SAFERBOT_DB='{schema.url}'")  # the example's own database, as a private schema
        term.type(lines[1])
        term.wait_for(r"saferbot running on console")
        term.type(lines[2])
        term.wait_for(r"already running on PostgreSQL")
        term.type("jobs")
        out = term.wait_for(r"\[2\][^\n]*Running")
        assert "Stopped" not in out, out[-2000:]
        term.type(lines[3])
        term.wait_for(r"this standby takes over now")
        term.wait_for(r"saferbot running on console.*saferbot running on console", 60)
        term.type(lines[4] + "; echo status-exit=$?")
        out = term.wait_for(r"status-exit=\d")
        assert "status-exit=0" in out and "Stopped" not in out, out[-2000:]
    finally:
        term.close()
