"""lone_working capability (to be built)."""
