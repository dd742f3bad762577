"""saferbot tests."""
