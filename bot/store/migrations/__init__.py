"""Forward-only schema migrations, one list per component.

Each component (the engine core and each capability) owns its own file, so
capabilities can add tables without touching each other. A step is never edited
once released; add a new step instead.
"""

from . import (
    bans,
    board,
    codeword,
    core,
    incidents,
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
    "people": people.STEPS,
    "registration": registration.STEPS,
    "privacy": privacy.STEPS,
    "codeword": codeword.STEPS,
    "relay": relay.STEPS,
    "bans": bans.STEPS,
    "trigger": trigger.STEPS,
    "board": board.STEPS,
    "phone": phone.STEPS,
}
