"""Reading the configuration for a command-line verb (below bot/cli.py, so verbs never import it back)."""

from __future__ import annotations

import sys

from ..book import ConfigError, load_all
from ..settings import Settings, ladder_problems, settings_failed


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
