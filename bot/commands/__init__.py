"""Command-line subcommands that belong to a capability (each module has register(subparsers))."""

from . import bans, incidents, invite, ops, people, privacy, status, store  # noqa: F401
