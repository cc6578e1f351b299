"""Each layer imports only the layers below it (docs/architecture.md), so no two packages
import each other, and every layer module imports on its own in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import ledgerbridge

SRC = Path(ledgerbridge.__file__).parent
LAYERS = {
    "clock": 0, "settings": 0, "logs": 0, "network": 0,
    "model": 1, "store": 2, "mail": 2, "connectors": 3, "engine": 4,
    "commerce": 5,  # policies over canonical records, the flows of DESIGN.md
    "runtime": 6, "services": 7, "api": 8, "ui": 8, "cli": 8,
}  # fmt: skip
WIRING = "ledgerbridge.runtime.system"
"""Builds one installation from every layer (``System``), the API and the CLI start it: the
one module of a layer that may import the layers above."""
SCRIPTS = "ledgerbridge.store.migrations"
"""Alembic runs the migrations as scripts; nothing in the package imports them."""


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "ledgerbridge" and not name.startswith((SCRIPTS, "ledgerbridge.sandbox")):
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """The ledgerbridge modules a file imports, wherever in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("ledgerbridge.")}


def layer(module: str) -> str:
    return module.split(".")[1]


def test_each_package_has_its_layer() -> None:
    assert {layer(m) for m in modules()} <= set(LAYERS)


def test_each_layer_imports_only_the_layers_below_it() -> None:
    upward = [
        f"{module} imports {target}"
        for module, path in modules().items()
        if module != WIRING
        for target in imports(path)
        if layer(target) in LAYERS and LAYERS[layer(target)] > LAYERS[layer(module)]
    ]
    assert upward == []


def test_no_two_packages_import_each_other() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules().items():
        if module == WIRING:
            continue
        graph[layer(module)].update(
            layer(t) for t in imports(path) if layer(t) in LAYERS and layer(t) != layer(module)
        )

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in graph[start]
        )

    assert [p for p in LAYERS if reaches(p, p, {p})] == []


def test_every_layer_module_imports_alone_in_a_fresh_interpreter() -> None:
    """An import cycle shows when a module of the cycle is the first one imported (the
    runtime and the services are where one was)."""
    names = [m for m in modules() if layer(m) in ("runtime", "services")]
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('ledgerbridge')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


SHARED = ("ledgerbridge.engine", "ledgerbridge.commerce", "ledgerbridge.services.connections")
"""What serves every system alike: it knows a system by its declaration (``SystemSpec``) and
the connectors' shared parts, never by one connector's own modules."""
SYSTEM_NEUTRAL = ("base", "registry", "kit", "settings")
"""The parts of ``ledgerbridge.connectors`` that belong to no one system."""


def test_what_serves_every_system_imports_no_one_systems_connector() -> None:
    one_system = [
        f"{module} imports {target}"
        for module, path in modules().items()
        if module.startswith(SHARED)
        for target in imports(path)
        if layer(target) == "connectors"
        and len(target.split(".")) > 2
        and target.split(".")[2] not in SYSTEM_NEUTRAL
    ]
    assert one_system == []
