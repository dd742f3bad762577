"""Where charts and exports go: one private directory, never the working directory.

Reports and exports hold incident evidence (names, what was said), so the directory is
created 0700 and every file in it 0600, whatever the process umask.
"""

from __future__ import annotations

import os
from pathlib import Path

from .settings import Settings


def files_path(settings: Settings) -> Path:
    """SAFERBOT_FILES_DIR, or a `files/` folder beside the SQLite database (the working folder on PostgreSQL)."""
    beside = Path.cwd() if settings.on_postgres else Path(settings.db).resolve().parent
    return Path(settings.files_dir) if settings.files_dir else beside / "files"


def files_dir(settings: Settings) -> Path:
    """files_path, created private (0700) if it is not there yet."""
    d = files_path(settings)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(d, 0o700)
    return d


def open_private(path: Path, mode: str = "wb"):
    """Open `path` for writing, readable by this user only (0600 even if it existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode)


def write_private(path: Path, data: bytes) -> Path:
    with open_private(path) as f:
        f.write(data)
    return path
