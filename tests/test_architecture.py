"""The arrows of docs/ARCHITECTURE.md, enforced: benchmarks -> lab -> agents -> esper_env -> leyline, never back,
and no import cycle anywhere (module level or inside functions)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("esper_env", "agents", "lab")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved against its package; ``from X import
    Y`` counts X.Y too, so that importing a submodule by name is seen)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    package = ".".join(parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p in files(folder) for m in imports(p)
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (names that are not modules resolve to their module)."""
    modules = {module_name(p): p for pkg in PACKAGES for p in files(pkg)}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for m in imports(path):
            while m and m not in modules and "." in m:
                m = m.rsplit(".", 1)[0]
            if m in modules and m != name and not name.startswith(m + "."):  # a package's own __init__ is no edge
                deps.add(m)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_leyline_imports_nothing_from_the_project():
    found = [f"{p.name} imports {m}" for p in files("esper_env/leyline") for m in imports(p)
             if m.split(".")[0] in PACKAGES and not m.startswith("esper_env.leyline")]
    assert files("esper_env/leyline") and found == []


def test_data_imports_nothing_from_the_project():
    bad = [f"{p} imports {m}" for p in files("esper_env/data") for m in imports(p)
           if m.startswith(("esper_env.kasmina", "esper_env.env", "esper_env.leyline", "agents", "lab"))]
    assert bad == []


@pytest.mark.parametrize("folder, forbidden", [
    ("esper_env", ("agents", "lab", "benchmarks")),              # the environment knows no controller
    ("agents", ("lab", "benchmarks",                              # controllers and learners know no experiment
                "esper_env.kasmina", "esper_env.env", "esper_env.training")),  # ... and read reports only
    ("lab", ("benchmarks",)),                                     # benchmarks are leaves
    ("esper_env/kasmina", ("esper_env.env", "esper_env.reporting", "esper_env.variants")),  # the model knows no env
])
def test_arrows(folder, forbidden):
    assert offenders(folder, forbidden) == []


def test_no_import_cycle_anywhere():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_cycles():  # guards against a checker that can never fail
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_checker_sees_imports():  # guards against a checker that can never fail
    assert "esper_env.leyline" in imports(ROOT / "agents/tamiyo.py")
    assert "esper_env.kasmina.blueprints" in imports(ROOT / "esper_env/kasmina/model.py")
    graph = import_graph()
    assert "agents.base" in graph["agents.tamiyo"] and "agents.registry" in graph["lab.compare.plan"]


def test_the_env_class_stays_small():
    """EsperEnv holds the Gymnasium API and the order of an epoch; bookkeeping, reports, snapshots, training and
    the episode's variant (:class:`esper_env.variants.EpisodeVariant`) live in their own modules. A class past 250
    lines is doing another module's job."""
    tree = ast.parse((ROOT / "esper_env/env.py").read_text())
    env = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EsperEnv")
    assert env.end_lineno - env.lineno + 1 <= 250
