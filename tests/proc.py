"""A `saferbot run` process for process-level tests: console transport on stdin/stdout."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Bot:
    """One `saferbot run` process; stdout and stderr collected by threads."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    @staticmethod
    def _pump(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line)

    def stdout(self) -> str:
        return "".join(self.out)

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate, timeout: float, what: str) -> float:
        """Seconds since the process started when predicate(stdout) first held."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate(self.stdout()):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{what} did not happen; stdout:\n{self.stdout()}\nstderr:\n{''.join(self.err)}")

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no clean shutdown at all
        self.proc.wait(5)


def blocks(stdout: str) -> list[tuple[str, str]]:
    """(header, body) of each delivery the console printed."""
    out = []
    for chunk in stdout.split("--> ")[1:]:
        header, _, body = chunk.partition("\n")
        out.append((header, body))
    return out


def any_time_service(tmp_path: Path) -> Path:
    """The example service file with a duty rota that holds at any hour of any day (Bob at Central, Fran at
    Riverside, no dated overrides): a real process runs on the wall clock, so who is on duty must not
    depend on when the suite runs."""
    import yaml

    service = yaml.safe_load((ROOT / "config" / "service.example.yaml").read_text())
    service.update(rota=[{"branch": "central", "person": "bob"}, {"branch": "riverside", "person": "fran"}],
                   overrides=[])
    path = tmp_path / "service.any-time.yaml"
    path.write_text(yaml.safe_dump(service))
    return path


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: a temp database, the example people and a rota that holds at any time, no tokens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFERBOT_")}
    env.update(SAFERBOT_DB=str(tmp_path / "saferbot.db"), SAFERBOT_CODEWORDS_FILE=str(ROOT / "codewords.yaml"),
               PYTHONUNBUFFERED="1", SAFERBOT_SERVICE_FILE=str(any_time_service(tmp_path)),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    env.update(extra)
    return env
