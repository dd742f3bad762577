"""Forward-only schema migrations, one list per component.

Each component (the engine core and each capability) owns its own file, named after
the owner of its tables (tests/test_ownership.py), so capabilities can add tables
without touching each other. A step is never edited once released; add a new step
instead. A component is renamed through RENAMED: stores that recorded the old name in
schema_version get the new name recorded too, in the migration's transaction; the old record
stays, following the new one's version, so an older saferbot still starts (bot.store.follow_renames).
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
    phone,
    privacy,
    registration,
    relay,
    roster,
    trigger,
)

COMPONENTS: dict[str, list[str]] = {
    "core": core.STEPS,
    "lone": lone.STEPS,
    "incidents": incidents.STEPS,
    "roster": roster.STEPS,  # was "people" (RENAMED)
    "registration": registration.STEPS,
    "privacy": privacy.STEPS,
    "codeword": codeword.STEPS,
    "relay": relay.STEPS,
    "backup": backup.STEPS,  # after core and roster, which created its tables before it existed
    "lockdown": lockdown.STEPS,  # likewise
    "bans": bans.STEPS,
    "trigger": trigger.STEPS,
    "board": board.STEPS,
    "phone": phone.STEPS,
}
# a component's old name, as stores migrated before the rename recorded it -> its name now
RENAMED: dict[str, str] = {
    "people": "roster",  # the roster's tables kept their first component name until the owners were named
}


def newer(recorded: list[tuple[str, int]]) -> list[str]:
    """The components a store records at more steps than this saferbot has: it was written by a newer one.
    A component recorded under an old name (a store not migrated since the rename) counts as its new one."""
    return [c for c, v in recorded if v > len(COMPONENTS.get(RENAMED.get(c, c), ()))]
