"""Env files read the way systemd's EnvironmentFile= reads them, for `saferbot --env-file`.

So an admin can run any command with exactly the service's settings (docs/admin.md), and the
tests can check the shipped config/saferbot.env as systemd will see it. The rules (systemd.exec(5)):
one KEY=VALUE per line; lines starting with # or ; are comments; space around the key and the
value is dropped; a value in single or double quotes loses its quotes; a `#` after the value is
part of the value (there are no inline comments), which is why the shipped file has none.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ValueError):
    """A line systemd would not read as intended: the file, the line and why."""


def parse(text: str, where: str = "env file") -> dict[str, str]:
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        n, line = i + 1, lines[i].strip()
        while line.endswith("\\") and i + 1 < len(lines):  # a trailing backslash joins the next line
            i += 1
            line = line[:-1] + lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        key, eq, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not NAME.fullmatch(key):
            raise EnvFileError(f"{where}:{n}: not KEY=VALUE ({line[:40]!r}); comments go on lines of their own")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
            if value[:1] != "'":
                value = re.sub(r"\\(.)", r"\1", value)
        elif value[:1] in "'\"":
            raise EnvFileError(f"{where}:{n}: {key}: an opening quote that never closes")
        values[key] = value
    return values


def load(path: str | Path) -> dict[str, str]:
    """Read `path` (`-`: standard input) and put its variables into this process's environment.

    They win over the environment's own, as EnvironmentFile= wins over the unit's Environment= lines.
    """
    p = Path(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else p.read_text(encoding="utf-8")
    except OSError as e:
        raise EnvFileError(f"cannot read the env file {p}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{p}: not UTF-8 text") from None
    values = parse(text, str(p))
    os.environ.update(values)
    return values
