"""Capabilities: one module per capability, each owning its tables and its personal data.

Handlers are platform-neutral: they never import a chat SDK. Each is a plain function run
inside one database transaction (see bot/unit.py), marked with what it answers to
(bot/registry.py). Importing this package or any module in it registers nothing: the entry
point composes them into an App (bot/compose.py), which also says in what order they read a
typed message.
"""
