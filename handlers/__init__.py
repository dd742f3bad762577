"""Capabilities. Importing this package registers every handler with bot.registry.

Handlers are platform-neutral: they never import a chat SDK. Each is a plain
function run inside one database transaction (see bot/unit.py).
"""

from . import alerts, backup, codeword, help, incident, lone_working, report, roster  # noqa: F401
