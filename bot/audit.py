"""Who is at the keyboard, for the audit trail: the operating system's account, never an environment
variable (LOGNAME=dana is one export away from putting words in Dana's mouth)."""

from __future__ import annotations

import os


def os_user() -> str:
    """The real user's login name from the OS account database (its uid if the account has no name)."""
    uid = os.getuid()
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows) or an unnamed uid (containers)
        return f"uid{uid}"


def cli_actor(on_behalf_of: str | None = None) -> str:
    """`cli:<os user>`, plus whom they say they act for (recorded, never trusted instead)."""
    who = f"cli:{os_user()}"
    if on_behalf_of and on_behalf_of not in (who, os_user()):
        who += f" (for {on_behalf_of})"
    return who
