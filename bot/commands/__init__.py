"""Command-line subcommands that belong to a capability (each module has register(subparsers))."""

from . import incidents, invite, people, privacy  # noqa: F401
