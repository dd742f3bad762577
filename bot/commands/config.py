"""Reading the configuration for a command-line verb (below bot/cli.py, so verbs never import it back)."""

from __future__ import annotations

import sys

from ..book import ConfigError, load_all
from ..settings import Settings


def load_config(settings: Settings):
    """Both files, or a report of every problem and exit code 2."""
    try:
        book, service = load_all(settings.codewords_file, settings.service_file)
    except ConfigError as e:
        print(f"saferbot: {len(e.problems)} problem(s) in the configuration:\n", file=sys.stderr)
        for p in e.problems:
            print(str(p) + "\n", file=sys.stderr)
        raise SystemExit(2) from None
    unknown = ladder_problems(settings, book)
    if unknown:
        settings_failed(unknown)
    return book, service


def ladder_problems(settings: Settings, book) -> list[str]:
    """The settings that name a ladder must name one the codeword book has (else a fallback would be used)."""
    known = ", ".join(book.ladders)
    return [f"SAFERBOT_{name.upper()}={getattr(settings, name)!r} is not a ladder in {settings.codewords_file}; "
            f"accepted: {known}" for name in ("backup_ladder", "lockdown_ladder")
            if getattr(settings, name) not in book.ladders]


def settings_failed(problems: list[str]):
    print(f"saferbot: {len(problems)} setting(s) cannot be used:", file=sys.stderr)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    print("Fix them in the environment or the env file (docs/admin.md, Settings); nothing was started.",
          file=sys.stderr)
    raise SystemExit(2)
