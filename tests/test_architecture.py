"""The package reads as its data path: a lower layer never imports a higher one, and nothing imports in a circle.

Every ``import`` in ``deepcluster/`` counts, function-level ones included (a lazy import is still a
dependency). The order is docs/architecture.md's picture.
"""

import ast
from pathlib import Path

from conftest import REPO

# lowest first; a module may import its own layer and the layers before it
LAYERS = [
    ("deepcluster.version", "deepcluster.atomic", "deepcluster.seeds", "deepcluster.config", "deepcluster.dist",
     "deepcluster.metrics"),
    ("deepcluster.data", "deepcluster.visualize"),
    ("deepcluster.runtime",),
    ("deepcluster.models",),
    ("deepcluster.features",),
    ("deepcluster.cluster",),
    ("deepcluster.scores",),
    ("deepcluster.sampling",),
    ("deepcluster.train",),
    ("deepcluster.pretrained", "deepcluster.export"),
    ("deepcluster.evaluation",),
    ("deepcluster.heads",),
    ("deepcluster.inspection",),
    ("deepcluster.annotation",),
    ("deepcluster.cli",),
]
PACKAGE = REPO / "deepcluster"


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], root: Path = REPO) -> set[str]:
    """The deepcluster modules ``path`` imports (``from x import y`` counts as x.y when that is a module)."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return {m for m in found if m in modules and m != here}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(files)) for name, path in files.items()}


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return len(LAYERS)  # the package root (deepcluster/__init__.py) sits on top


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in import_graph() if layer_of(m) == len(LAYERS) and m != "deepcluster")
    assert not unplaced, f"add these modules to a layer in LAYERS and docs/architecture.md: {unplaced}"


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{a} -> {b}" for a, deps in import_graph().items() for b in deps if layer_of(b) > layer_of(a))
    assert not upward, "imports against the data path:\n" + "\n".join(upward)


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [])
            assert cycle is None, "import cycle: " + " -> ".join(cycle[cycle.index(cycle[-1]):])


def test_the_checker_sees_function_level_imports(tmp_path):
    """A lazy import inside a function is found (the old pretrained <-> export circle hid there)."""
    probe = PACKAGE / "features.py"
    assert "deepcluster.dist" in imported_modules(probe, set(import_graph()))
    lazy = tmp_path / "deepcluster" / "lazy.py"
    lazy.parent.mkdir()
    lazy.write_text("def f():\n    from .cli import train\n")
    modules = {"deepcluster.cli", "deepcluster.cli.train"}
    assert imported_modules(lazy, modules, root=tmp_path) == {"deepcluster.cli.train"}


def test_no_source_file_is_longer_than_400_lines():
    long = {str(p.relative_to(REPO)): n for p in [*PACKAGE.rglob("*.py"), *(REPO / "tests").rglob("*.py")]
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"split these files by responsibility: {long}"


def test_launch_scripts_are_thin_and_leave_sys_path_alone():
    for script in (REPO / "launch").glob("*.py"):
        text = script.read_text()
        assert "sys.path" not in text, f"{script.name} edits sys.path; import deepcluster from the installed package"
        assert f"from deepcluster.cli.{script.stem} import main" in text, script.name
