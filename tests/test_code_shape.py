"""The project's own rules for its code, checked so that they keep holding: no module under
vit_gui/ passes 400 lines, no two modules import each other (directly or in a longer cycle),
and nothing outside gui/ imports Qt (pure logic is tested headless)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "vit_gui"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """vit_gui modules `path` imports, at any depth of its code (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}" in known}
    return found


def test_no_module_passes_400_lines():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycles():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    graph = {name: {d for d in deps if not d.startswith(name + ".")} for name, deps in graph.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_qt_only_in_the_gui_package():
    offenders = []
    for name, path in modules().items():
        if name.startswith("vit_gui.gui") or name == "vit_gui.selftest":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("PySide6", "shiboken6") for n in names):
                offenders.append(name)
    assert offenders == []


def test_no_class_is_built_from_mixins():
    """A class's state lives in one place: no class named *Mixin, and no class inheriting from
    two or more of the project's own classes (a mixin by another name). Qt and library bases
    beside one of ours (a QObject, a dataclass) are fine."""
    ours, found = set(), []
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in modules().items()}
    for tree in trees.values():
        ours |= {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
            if node.name.endswith("Mixin") or sum(base in ours for base in bases) >= 2:
                found.append(f"{name}.{node.name}({', '.join(bases)})")
    assert found == []
