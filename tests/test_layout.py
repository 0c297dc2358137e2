"""The house rules of the layout, read from the code's own imports (no service is started).

- the core (`oceanwatch`) imports no service; a service imports the core, never another service;
- no two modules import each other, directly or round a longer loop;
- the core keeps at most a dozen modules directly in its package; the rest live in subpackages;
- the helpers of the tests and benchmarks (`oceanwatch.testing`) are imported by no production module;
- a test module imports no other test module: what several share lives in a `tests/*kit.py` helper.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = "oceanwatch"
SERVICES = ("app", "visualization", "predict_stream", "ais_stream", "ingest", "scripts")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in (CORE, *SERVICES) for p in (ROOT / package).rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The project modules a file imports anywhere in it (a function-level import is an import too)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(path, known) - {name} for name, path in found.items()}


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_core_imports_no_service_and_no_service_imports_another() -> None:
    wrong = sorted(
        f"{a} -> {b}" for a, targets in graph().items() for b in targets if top(b) != top(a) and top(b) != CORE
    )
    assert wrong == []


def test_no_production_module_imports_the_testing_helpers() -> None:
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if b.startswith(f"{CORE}.testing") and not a.startswith(f"{CORE}.testing")
    )
    assert wrong == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_test_module_imports_another() -> None:
    tests = {f"tests.{p.stem}": p for p in (ROOT / "tests").glob("test_*.py")}
    wrong = sorted(f"{a} -> {b}" for a, path in tests.items() for b in imports(path, set(tests)) if b != a)
    assert wrong == []


def test_no_modules_import_each_other() -> None:
    # A package's __init__ importing its own modules is how a package hands names on, not a loop.
    edges = {
        a: {b for b in targets if not (a == b.rpartition(".")[0] or b == a.rpartition(".")[0])}
        for a, targets in graph().items()
    }
    assert cycles(edges) == []


def test_a_cycle_is_found_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_core_package_holds_at_most_a_dozen_modules_directly() -> None:
    direct = sorted(p.name for p in (ROOT / CORE).glob("*.py") if p.name != "__init__.py")
    assert len(direct) <= 12, direct
