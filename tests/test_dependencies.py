"""Dependencies: floors at releases with current security fixes, and a constraints file that pins
every package for a reproducible deployment (CI installs with it)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from tests.conftest import ROOT

# the lowest release without a published advisory that matters to us (see docs/data-protection.md)
FLOORS = {"aiohttp": (3, 14, 3), "tornado": (6, 5, 8), "h11": (0, 16)}


def _v(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _name(req: str) -> str:
    return re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_dependency_floors_exclude_releases_with_known_security_fixes_missing():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floors = {}
    for req in deps:
        m = re.search(r">=\s*([\d.]+)", req)
        floors[_name(req)] = _v(m.group(1)) if m else ()
    for name, lowest in FLOORS.items():
        assert floors.get(name, ()) >= lowest, f"{name} floor {floors.get(name)} admits releases below {lowest}"
        assert _v(version(name)) >= lowest  # and what is installed meets it


def test_constraints_file_pins_every_dependency_at_or_above_its_floor():
    lines = [ln.strip() for ln in (ROOT / "constraints.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    pins = {}
    for ln in lines:
        name, sep, ver = ln.partition("==")
        assert sep, f"not an exact pin: {ln}"
        pins[_name(name)] = _v(ver)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for req in deps:
        assert _name(req) in pins, f"{_name(req)} is not pinned in constraints.txt"
    for name, lowest in FLOORS.items():
        assert pins[name] >= lowest
    assert "saferbot" not in pins
