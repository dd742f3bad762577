"""The layering holds (docs/architecture.md, "Layers"): every import arrow points down, and no two
files import each other, directly or round a circle. Imports are read with `ast`, at any depth
(inside functions and under TYPE_CHECKING too): a lazy import is still an arrow."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ENTRY, RUNTIME, EDGE, ENGINE, STORE, MODEL = 6, 5, 4, 3, 2, 1  # EDGE: capabilities and transports
NAMES = {ENTRY: "Entry", RUNTIME: "Runtime", EDGE: "Capability/Transport", ENGINE: "Engine", MODEL: "Model",
         STORE: "Store"}
LAYER = {
    "bot.cli": ENTRY, "bot.commands": ENTRY, "bot.demo": ENTRY, "bot.compose": ENTRY, "bot.permissions_doc": ENTRY,
    "bot.serve": RUNTIME, "bot.lease": RUNTIME, "bot.health": RUNTIME, "bot.relay": RUNTIME, "bot.doctor": RUNTIME,
    "bot.instance": RUNTIME, "bot.logs": RUNTIME, "bot.systemd": RUNTIME,
    "bot.guide": RUNTIME, "bot.trigger_http": RUNTIME, "bot.storecheck": RUNTIME,
    "handlers": EDGE, "bot.transports": EDGE, "bot.board": EDGE,  # the board: a reader and a caller, like a transport
    # the engine, and the interfaces it offers (a transport's base class, a handler's unit of work)
    "bot.engine": ENGINE, "bot.router": ENGINE, "bot.escalation": ENGINE, "bot.outbox": ENGINE,
    "bot.scheduler": ENGINE, "bot.lane": ENGINE, "bot.unit": ENGINE, "bot.registry": ENGINE, "bot.app": ENGINE, "bot.outage": ENGINE,
    "bot.emergency": ENGINE, "bot.relay_queue": ENGINE, "bot.typed_buttons": ENGINE, "bot.transports.base": ENGINE, "bot.faults": ENGINE,
    "bot.model": MODEL, "bot.messages": MODEL, "bot.book": MODEL, "bot.settings": MODEL, "bot.clock": MODEL,
    "bot.words": MODEL, "bot.directory": MODEL, "bot.forms": MODEL, "bot.permissions": MODEL,
    "bot.matching": MODEL, "bot.digest": MODEL, "bot.audit": MODEL,
    "bot.files": MODEL,  # where charts and exports go: a path the settings decide
    "bot.store": STORE,
    "bot": MODEL,
}
FORBIDDEN_SIDEWAYS = {("handlers", "bot.transports"), ("bot.transports", "handlers")}

def _files() -> dict[str, Path]:
    out = {}
    for top in ("bot", "handlers"):
        for p in sorted((ROOT / top).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


FILES = _files()


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for a in node.names:
                found.add(f"{module}.{a.name}" if f"{module}.{a.name}" in FILES else module)
    return {m for m in found if m in FILES and m != name}


GRAPH = {name: _imports(name, path) for name, path in FILES.items()}


def _layer(name: str) -> tuple[str, int]:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in LAYER:
            return prefix, LAYER[prefix]
    raise AssertionError(f"{name}: in no layer; add it to LAYER in tests/test_layers.py")


def test_every_file_has_a_layer():
    for name in FILES:
        _layer(name)


def _side(name: str) -> str:
    """Capabilities and transports share a layer but never import each other."""
    if name == "handlers" or name.startswith("handlers."):
        return "handlers"
    return "bot.transports" if _layer(name)[0] == "bot.transports" else ""


def test_every_arrow_points_down():
    up = []
    for a, targets in GRAPH.items():
        la = _layer(a)[1]
        for b in targets:
            lb = _layer(b)[1]
            if lb > la or (_side(a), _side(b)) in FORBIDDEN_SIDEWAYS:
                up.append(f"{a} ({NAMES[la]}) imports {b} ({NAMES[lb]})")
    assert up == []


def _circles() -> list[set[str]]:
    """Strongly connected groups of more than one file (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(group)

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    circles = [sorted(c) for c in _circles()]
    assert circles == []


def test_the_walk_sees_lazy_and_relative_imports():
    assert "bot.compose" in GRAPH["bot.cli"]  # imported inside a function
    assert "bot.app" in GRAPH["bot.engine"]  # a relative import
