"""registration capability (to be built)."""
