"""Tables for registration: invites and bound chat accounts (table `bindings`: person, platform, user_id)."""

STEPS: list[str] = []
