"""Tables for the lone capability."""

STEPS: list[str] = []
