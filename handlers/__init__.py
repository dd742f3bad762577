"""Capabilities. Importing this package registers every handler with bot.registry.

Handlers are platform-neutral: they never import a chat SDK. Each is a plain
function run inside one database transaction (see bot/unit.py).
"""

from . import (  # noqa: F401
    alerts,
    backup,
    codeword,
    help,
    incident,
    incident_form,
    lockdown,
    lone_working,
    registration,
    report,
    roster,
    welfare,
)
