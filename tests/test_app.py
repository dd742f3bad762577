"""The composition is an instance: importing a capability wires nothing; two Apps share nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.compose import build_app
from bot.registry import command

ROOT = Path(__file__).resolve().parent.parent

# In a fresh interpreter: every module-level list, dict and set of the core, before and after importing
# every capability module. A capability that registered itself by import would change one of them.
PROBE = """
import importlib, pkgutil, sys
import bot, bot.engine, bot.router, bot.escalation, bot.forms, bot.registry, bot.app, bot.unit
def state():
    out = {}
    for name, mod in list(sys.modules.items()):
        if name == "bot" or name.startswith("bot."):
            for attr, value in list(vars(mod).items()):
                if isinstance(value, (list, dict, set)) and not attr.startswith("__"):
                    out[f"{name}.{attr}"] = repr(value)
    return out
before = state()
import handlers
for info in pkgutil.iter_modules(handlers.__path__):
    if info.name != "compose":
        importlib.import_module(f"handlers.{info.name}")
after = state()
changed = sorted(k for k in before if after.get(k) != before[k])
print("CHANGED", changed)
print("APP", "bot.compose" in sys.modules)
"""


def test_importing_every_capability_wires_nothing():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "CHANGED []" in out, out
    assert "APP False" in out, out  # no capability imports the composition


def test_two_apps_share_nothing():
    one, two = build_app(), build_app()
    assert one.commands.keys() == two.commands.keys() and one.readers and two.readers

    def extra(tx, person, msg, args):  # noqa: ANN001, ANN202
        return None

    one.take(command("zzextra", permission="raise_alert", help="")(extra))
    one.startup.append(extra)
    one.home_sections.clear()
    assert "zzextra" in one.commands and "zzextra" not in two.commands
    assert extra not in two.startup and two.home_sections
    assert build_app().home_sections == two.home_sections


def test_start_up_runs_the_directory_first():
    from bot import directory

    assert build_app().startup[0] is directory.startup
