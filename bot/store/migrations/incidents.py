"""Tables for the incidents capability."""

STEPS: list[str] = []
