"""report capability (to be built)."""
