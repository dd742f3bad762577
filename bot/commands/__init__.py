"""Command-line subcommands that belong to a capability (each module has register(subparsers))."""

from . import bans, incidents, invite, ops, people, phone, privacy, status, store, trigger  # noqa: F401
