"""Tables for the people capability."""

STEPS: list[str] = []
