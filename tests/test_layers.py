"""The layers of docs/architecture.md: no module imports from a layer above its own, and there is no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import movierec

ROOT = Path(movierec.__file__).parent
LAYER = {
    "config": 0, "errors": 0,
    "data": 1,
    "kernels": 2,
    "models": 3,
    "ranking": 4, "store": 4,
    "evaluation": 5,
    "spark": 6,
    "training": 7, "retrain": 7,
    "cli": 8, "service": 8, "__init__": 9, "__main__": 9,
}  # fmt: skip


def _layer(module: str) -> int:
    return LAYER[module.split(".")[1]]


def _imports(path: Path) -> set[str]:
    """Every movierec module a file imports, at the top or inside functions (a lazy import is still a dependency)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("movierec"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("movierec"))
    return {m for m in found if m != "movierec"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = []
    for module, path in _modules().items():
        if module == "movierec":
            continue
        for target in _imports(path):
            if _layer(target) > _layer(module):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {}
    for module, path in _modules().items():
        if module == "movierec":
            continue
        src = module.split(".")[1]
        graph.setdefault(src, set()).update(t.split(".")[1] for t in _imports(path) if t.split(".")[1] != src)

    def reach(start: str) -> set[str]:
        seen, todo = set(), list(graph.get(start, ()))
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return seen

    cycles = sorted(pkg for pkg in graph if pkg in reach(pkg))
    assert cycles == []
