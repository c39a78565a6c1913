"""The package's imports flow one way: no module imports the package root, no import cycles,
and the lower layers (ODE models, experiments) never import the plotting layer (viz), which only
the command-line modules may use."""

from __future__ import annotations

import ast
from pathlib import Path

import cartsim

PACKAGE = Path(cartsim.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """For each cartsim module, the cartsim modules it imports at run time (at module level or
    inside functions; ``if TYPE_CHECKING:`` blocks excluded)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        is_package = path.name == "__init__.py"
        base = module.split(".") if is_package else module.split(".")[:-1]
        found: set[str] = set()

        def visit(node: ast.AST) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, ast.Import):
                    found.update(a.name for a in child.names if a.name.split(".")[0] == "cartsim")
                elif isinstance(child, ast.ImportFrom):
                    source = (".".join(base[: len(base) - child.level + 1] + [child.module or ""]).rstrip(".")
                              if child.level else child.module or "")
                    if source.split(".")[0] == "cartsim":
                        found.update(f"{source}.{a.name}" if f"{source}.{a.name}" in paths else source
                                     for a in child.names)
                visit(child)

        visit(ast.parse(path.read_text(encoding="utf-8")))
        graph[module] = {m for m in map(resolve, found) if m and m != module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if there is any (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := dfs(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := dfs(node)):
            return found
    return None


GRAPH = _imports()


def test_no_module_imports_the_package_root():
    assert not sorted(m for m, deps in GRAPH.items() if "cartsim" in deps and m != "cartsim")


def test_there_are_no_import_cycles():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _is_command_module(module: str) -> bool:
    return module == "cartsim.cli" or module.endswith(".commands")


def test_lower_layers_never_import_the_plotting_or_experiment_layers():
    def offenders(layer: str, forbidden: tuple[str, ...]) -> list[str]:
        return sorted(f"{m} -> {d}" for m, deps in GRAPH.items() for d in deps
                      if (m == layer or m.startswith(layer + ".")) and not _is_command_module(m)
                      and d.startswith(forbidden))

    assert not offenders("cartsim.odes", ("cartsim.experiments", "cartsim.viz", "cartsim.well_mixed"))
    assert not offenders("cartsim.experiments", ("cartsim.viz",))
    assert not offenders("cartsim.well_mixed", ("cartsim.experiments", "cartsim.viz"))
    assert not offenders("cartsim.viz", ("cartsim.experiments", "cartsim.calibration"))
    assert not offenders("cartsim.calibration", ("cartsim.viz",))
    for base in ("cartsim.io", "cartsim.summary", "cartsim._version", "cartsim.snapshot", "cartsim.units"):
        assert GRAPH[base] <= {"cartsim._version", "cartsim.units"}, base
    # the cells and their environment take state names and unit constants from cartsim.units,
    # not from the snapshot (a product of the model) or the config schema
    assert not offenders("cartsim.agents", ("cartsim.snapshot", "cartsim.viz", "cartsim.experiments"))
    assert not offenders("cartsim.environment", ("cartsim.snapshot", "cartsim.viz", "cartsim.experiments"))
