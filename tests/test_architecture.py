"""The package's shape, read with ``ast``: imports run one way, nothing reaches into another module's
``_private`` names, and modules and functions stay small enough to read."""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lrmf_plugin"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
#: modules and functions still over the limits (none left; a new one fails the test)
LONG_MODULES: set[str] = set()
LONG_FUNCTIONS: set[str] = set()
#: cross-module private uses still to remove (none left)
KNOWN_PRIVATE_USES: set[str] = set()


def _modules(root: Path, prefix: str) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([prefix, *parts])] = path
    return out


MODULES = _modules(PACKAGE, "lrmf_plugin")
#: the test modules import each other's helpers by bare name (pytest puts tests/ on the path)
TEST_MODULES = {name.split(".", 1)[1]: path for name, path in _modules(ROOT / "tests", "tests").items() if "." in name}


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _is_package(name: str) -> bool:
    return name in MODULES and MODULES[name].name == "__init__.py"


def _imports(name: str, tree: ast.Module) -> list[tuple[str, list[str], ast.AST]]:
    """(imported module, names taken from it, node) for every import in the module, at any depth;
    ``from pkg import sub`` counts as importing ``pkg.sub`` when ``sub`` is a module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if _is_package(name) else name.split(".")[:-1]
                here = here[:len(here) - node.level + 1]
                base = ".".join(here + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            out += [(s, [], node) for s in subs]
            out.append((base, [n for n in names if f"{base}.{n}" not in MODULES], node))
    return [(m, names, node) for m, names, node in out if m in MODULES or m in TEST_MODULES]


def _graph() -> dict[str, set[str]]:
    return {name: {m for m, _, _ in _imports(name, _parse(path)) if m != name and m in MODULES}
            for name, path in MODULES.items()}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            # a package's __init__ re-exporting its own modules is not a cycle through them
            if nxt == node.rsplit(".", 1)[0] and _is_package(nxt):
                continue
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_lrmf_layers_import_one_way():
    """estimator -> calibration -> planning -> posterior: nothing lower imports what is above it."""
    graph = _graph()
    order = ["lrmf_plugin.models.lrmf.estimator", "lrmf_plugin.models.lrmf.calibration", "lrmf_plugin.planning",
             "lrmf_plugin.models.lrmf.posterior"]
    for k, low in enumerate(order):
        assert not graph[low] & set(order[:k]), f"{low} imports {graph[low] & set(order[:k])}"


@pytest.mark.parametrize("modules", [MODULES, TEST_MODULES], ids=["package", "tests"])
def test_no_module_uses_another_modules_private_names(modules):
    found = []
    for name, path in modules.items():
        tree = _parse(path)
        aliases = {}
        for module, names, node in _imports(name, tree):
            found += [f"{name} imports {module}.{n}" for n in names if _private(n)]
            if isinstance(node, ast.Import):
                aliases.update({a.asname or a.name: a.name for a in node.names if a.name == module})
            else:
                aliases.update({a.asname or a.name: module for a in node.names if module.endswith("." + a.name)})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases:
                found.append(f"{name} reads {aliases[node.value.id]}.{node.attr}")
    assert set(found) <= KNOWN_PRIVATE_USES, "\n".join(sorted(set(found) - KNOWN_PRIVATE_USES))


def _too_long() -> tuple[set[str], set[str]]:
    modules, functions = set(), set()
    for name, path in MODULES.items():
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES:
            modules.add(name)
        for node in ast.walk(_parse(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                functions.add(f"{name}.{node.name}")
    return modules, functions


def test_modules_and_functions_stay_short():
    modules, functions = _too_long()
    assert modules <= LONG_MODULES, f"modules over {MAX_MODULE_LINES} lines: {sorted(modules - LONG_MODULES)}"
    assert functions <= LONG_FUNCTIONS, f"functions over {MAX_FUNCTION_LINES} lines: {sorted(functions - LONG_FUNCTIONS)}"
    # the allow-lists only shrink: an entry that now fits must leave them
    assert LONG_MODULES <= modules and LONG_FUNCTIONS <= functions, "remove the entries that now fit"


@pytest.mark.parametrize("module", ["lrmf_plugin.planning", "lrmf_plugin.models.lrmf.calibration"])
def test_the_planner_and_calibration_read_only_public_attributes(module):
    """They work on a fitted predictor from outside: through its public interface, not its insides."""
    private = [ast.unparse(node) for node in ast.walk(_parse(MODULES[module]))
               if isinstance(node, ast.Attribute) and _private(node.attr)
               and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))]
    assert not private, f"{module} reads {private}"
