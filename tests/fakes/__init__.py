"""Fake chat platforms for tests, served on 127.0.0.1."""
