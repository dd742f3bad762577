"""Command-line subcommands that belong to a capability (each module has register(subparsers))."""

from . import incidents, invite, ops, people, phone, privacy, status, store  # noqa: F401
