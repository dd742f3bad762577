"""Forward-only schema migrations, one list per component.

Each component (the engine core and each capability) owns its own file, so
capabilities can add tables without touching each other. A step is never edited
once released; add a new step instead.
"""

from . import (
    backup,
    bans,
    board,
    codeword,
    core,
    incidents,
    lockdown,
    lone,
    people,
    phone,
    privacy,
    registration,
    relay,
    trigger,
)

COMPONENTS: dict[str, list[str]] = {
    "core": core.STEPS,
    "lone": lone.STEPS,
    "incidents": incidents.STEPS,
    "people": people.STEPS,  # the roster's tables (bot/store/migrations/people.py)
    "registration": registration.STEPS,
    "privacy": privacy.STEPS,
    "codeword": codeword.STEPS,
    "relay": relay.STEPS,
    "backup": backup.STEPS,  # after core and people, which created its tables before it existed
    "lockdown": lockdown.STEPS,  # likewise
    "bans": bans.STEPS,
    "trigger": trigger.STEPS,
    "board": board.STEPS,
    "phone": phone.STEPS,
}
