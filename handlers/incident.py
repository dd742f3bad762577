"""incident capability (to be built)."""
