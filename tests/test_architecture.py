"""The layout tells the architecture: one folder per layer, data flowing one way, no cycles,
no reaching into another folder's private names, and modules and functions of readable size."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "interpclaims"

# Higher layers may import lower ones, never the reverse (DESIGN.md: plugin → verdicts → analyses
# → interventions → activations → models → backends; stats and the top-level modules are leaves).
LAYERS = ["plugin", "report", "verdicts", "analyses", "interventions", "activations", "models",
          "backends", "zoo"]
LEAF_RANK = len(LAYERS)  # stats and the top-level modules (_sites, _errors, _data, ...)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _folder(module: str) -> str:
    """``interpclaims.models._model`` → ``models``; a top-level module is its own leaf."""
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    sub = parts[1]
    is_folder = MODULES.get(f"interpclaims.{sub}", PACKAGE).name == "__init__.py"
    return sub if is_folder else "<leaf>"


def _rank(module: str) -> int:
    folder = _folder(module)
    return LAYERS.index(folder) if folder in LAYERS else LEAF_RANK


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """Every import of ``module`` (also inside functions and TYPE_CHECKING blocks):
    ``(imported module, imported names, line)``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("interpclaims")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            if not base.startswith("interpclaims"):
                continue
            names = [a.name for a in node.names]
            # `from interpclaims.x import _y` may import the module interpclaims.x._y
            subs = [f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES]
            out += [(s, [], node.lineno) for s in subs]
            rest = [n for n in names if f"{base}.{n}" not in MODULES]
            if rest:
                out.append((base, rest, node.lineno))
    return out


GRAPH = {m: sorted({t for t, _, _ in _imports(m) if t in MODULES and t != m}) for m in MODULES}


def test_no_import_cycles() -> None:
    """Type-only and function-level imports count too; the root package is not a node (it
    only re-exports)."""
    graph = {m: [t for t in ts if t != "interpclaims"] for m, ts in GRAPH.items() if m != "interpclaims"}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph.get(m, []):
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t):], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_data_flows_one_way() -> None:
    wrong = []
    for m in MODULES:
        if m == "interpclaims":
            continue
        for target, _, line in _imports(m):
            if target == "interpclaims" or _folder(target) == _folder(m):
                continue
            if _rank(target) < _rank(m):
                wrong.append(f"{m}:{line} imports {target} (a higher layer)")
    assert not wrong, "\n".join(wrong)


def test_no_module_reaches_into_another_folders_private_names() -> None:
    wrong = []
    for m in MODULES:
        for target, names, line in _imports(m):
            if target == "interpclaims" or _folder(target) in ("", "<leaf>"):
                continue  # top-level leaf modules are shared by every layer
            if _folder(target) == _folder(m):
                continue
            private_module = any(p.startswith("_") for p in target.split(".")[2:])
            private_names = [n for n in names if n.startswith("_")]
            if private_module or private_names:
                wrong.append(f"{m}:{line} imports {target} {private_names or ''}".rstrip())
    assert not wrong, "\n".join(wrong)


def test_stats_is_a_leaf() -> None:
    """stats/ imports nothing from the package but errors (and itself)."""
    wrong = [f"{m} imports {t}" for m in MODULES if _folder(m) == "stats"
             for t, _, _ in _imports(m) if _folder(t) != "stats" and t != "interpclaims._errors"]
    assert not wrong, "\n".join(wrong)


def test_report_does_not_import_the_plugin() -> None:
    wrong = [f"{m} imports {t}" for m in MODULES if _folder(m) == "report"
             for t, _, _ in _imports(m) if _folder(t) == "plugin"]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", [m for m in MODULES if _folder(m) != "zoo"])
def test_module_and_function_sizes(module: str) -> None:
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= MAX_MODULE_LINES, f"{path}: {text.count(chr(10))} lines"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"  # type: ignore[operator]
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]  # type: ignore[operator]
    assert not long, f"{path}: {', '.join(long)}"


def test_no_backslash_continuations() -> None:
    wrong = [f"{p}:{i}" for m, p in MODULES.items() if _folder(m) != "zoo"
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if line.rstrip().endswith("\\") and not line.lstrip().startswith("#")]
    assert not wrong, "\n".join(wrong)
