"""The layout's rules, checked on the source: layers point down, no cycles, small modules.

Faces (``api/``, the page routes, ``cli.py``) call services; nothing below a face imports a web or
CLI framework, and nothing imports the CLI. Imports inside functions are allowed only where a
module would otherwise pay a heavy import at start-up for a rarely used command or optional part;
each such place is listed here with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stations"
FRAMEWORKS = ("fastapi", "starlette", "typer", "uvicorn")
#: Packages whose modules may import the web and CLI frameworks.
FACES = ("stations.api", "stations.cli")
MAX_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return (SRC.parent / name.replace(".", "/") / "__init__.py").exists()


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node, except inside ``if TYPE_CHECKING:`` blocks (not imported at run time)."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(name: str, tree: ast.Module) -> set[str]:
    """Modules of this package that ``name`` imports at run time, anywhere in the module."""
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                pkg = name if _is_package(name) else name.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    pkg = pkg.rsplit(".", 1)[0]
                base = f"{pkg}.{node.module}"
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in MODULES and m != name}


def _graph() -> dict[str, set[str]]:
    return {name: _imports(name, tree) for name, tree in MODULES.items()}


def test_no_import_cycles():
    graph = _graph()
    seen: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_nothing_imports_the_cli():
    users = [n for n, tree in MODULES.items() if "stations.cli" in _imports(n, tree)]
    assert users in ([], ["stations.__main__"]), users


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(FACES)))
def test_domain_and_storage_import_no_framework(name):
    bad = []
    for node in ast.walk(MODULES[name]):
        mods = []
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            mods = [node.module]
        bad += [m for m in mods if m.split(".")[0] in FRAMEWORKS]
    assert not bad, f"{name} imports {bad}"


#: Imports inside functions, each for start-up cost: the heavy library (seconds or hundreds of
#: milliseconds to import) is loaded only by the command or request that uses it, so
#: `stations nearest` and an API worker start without it.
HEAVY = "start-up cost: imported only by the command or request that uses it"
LOCAL_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    ("stations.cli.data", "uvicorn"): HEAVY,
    ("stations.cli.data", "stations.api"): HEAVY + " (the whole web stack, for `serve` only)",
    ("stations.cli.planning", "stations.web.maps"): HEAVY + " (folium, for `map` only)",
    ("stations.cli.planning", "stations.web.standalone"): HEAVY + " (folium, for `map` only)",
    ("stations.web.pages", "stations.web.maps"): HEAVY
    + " (folium, branca and pandas: ~0.8 s of a worker's start; the first /map or /embed)",
    ("stations.planning.offloop", "pulp"): HEAVY + " (the MILP solver, off-loop demand only)",
    ("stations.planning.offloop", "spopt.locate"): HEAVY + " (PySAL, off-loop demand only)",
    ("stations.storage.exchange", "geopandas"): HEAVY + " (GeoPackage export only)",
    ("stations.storage.tabular", "openpyxl"): HEAVY + " (XLSX files only)",
    ("stations.storage.track", "pyogrio"): HEAVY + " (GDAL, GPX import only)",
    ("stations.index", "scipy.spatial"): HEAVY + " (radius queries only; not `nearest`)",
}


def test_no_function_local_imports_without_a_reason():
    offenders = []
    for name, tree in MODULES.items():
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""]
                else:
                    continue
                offenders += [
                    f"{name}.{fn.name} imports {m} (line {node.lineno})"
                    for m in mods
                    if (name, m) not in LOCAL_IMPORTS_ALLOWED
                ]
    assert not offenders, offenders


def test_modules_are_small():
    big = {}
    for path in SRC.rglob("*.py"):
        count = len(path.read_text().splitlines())
        if count > MAX_LINES:
            big[str(path.relative_to(SRC))] = count
    assert not big, big


def test_functions_are_short_or_say_why():
    long = []
    for name, tree in MODULES.items():
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                assert fn.end_lineno is not None
                length = fn.end_lineno - fn.lineno + 1
                doc = ast.get_docstring(fn) or ""
                if length > MAX_FUNCTION_LINES and "long because" not in doc.lower():
                    long.append(f"{name}.{fn.name}: {length} lines")
    assert not long, long
