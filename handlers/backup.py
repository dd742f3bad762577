"""backup capability (to be built)."""
