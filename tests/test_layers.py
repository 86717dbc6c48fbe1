"""The package's import graph, read from the source (every ``import`` at any depth, as
docs/architecture.md describes it): no cycle, and no module of an earlier stage importing a later
one. Stages in the order data flows: data < model < train < eval < export < serve, with the
recipe, errors, security and the small helpers below them all and the orchestration above."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "afinar"

LAYERS = [
    (
        "errors",
        "names",
        "config",
        "recipe_reference",
        "atomic",
        "database",
        "migrations",
        "jobqueue",
        "jobstore",
        "lineage",
        "registry",
        "run_folder",
        "security",
        "shards",
        "tracking",
        "__init__",
    ),
    ("data",),
    ("model",),
    ("train",),
    ("eval",),
    ("export",),
    ("serve",),
    ("pipeline", "prepare", "worker"),
    ("cli", "__main__"),
]
"""Each module may import its own layer and the layers before it."""
ENTRY_POINTS = {"afinar.train.__main__"}
"""``python -m afinar.train`` is the CLI's training entry (torchrun runs it): it imports the CLI by design."""


def _modules(package: Path = PACKAGE) -> dict[str, Path]:
    out = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the afinar modules it imports (``from afinar.x import y`` is ``afinar.x.y`` when
    that is a module, else ``afinar.x``)."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]  # fmt: skip
            for target in targets:
                if target.startswith("afinar") and target in modules and target != name:
                    edges[name].add(target)
    return edges


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if top in names)


def _upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{src} -> {dst}"
        for src, targets in edges.items()
        for dst in targets
        if src not in ENTRY_POINTS and _layer(dst) > _layer(src)
    )


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def test_every_module_has_a_layer():
    assert all(_layer(m) >= 0 for m in _modules())


def test_no_import_points_from_an_earlier_stage_to_a_later_one():
    upward = _upward(_edges(_modules()))
    assert not upward, "imports against the stage order:\n" + "\n".join(upward)


def test_no_import_cycle():
    cycles = _cycles(_edges(_modules()))
    assert not cycles, f"import cycles: {cycles}"


def test_the_check_sees_an_upward_import_and_a_cycle(tmp_path):
    """The reader is not blind: in a made-up package, a data module importing the server inside a
    function and the server importing it back are both found."""
    package = tmp_path / "afinar"
    for folder in ("data", "serve"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "data" / "read.py").write_text("def f():\n    from afinar.serve.app import create_app\n")
    (package / "serve" / "app.py").write_text("from afinar.data import read\n")
    edges = _edges(_modules(package))
    assert _upward(edges) == ["afinar.data.read -> afinar.serve.app"]
    assert _cycles(edges) == [["afinar.data.read", "afinar.serve.app"]]
