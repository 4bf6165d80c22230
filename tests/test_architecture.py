"""The arrows of docs/ARCHITECTURE.md, enforced: agents -> esper_env -> leyline, never back."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join(base + ([node.module] if node.module else [])))
            else:
                found.add(node.module)
    return found


def files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {m}" for p in files(folder) for m in imports(p)
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_leyline_imports_nothing_from_the_project():
    found = [f"{p.name} imports {m}" for p in files("esper_env/leyline") for m in imports(p)
             if m.split(".")[0] in ("esper_env", "agents") and not m.startswith("esper_env.leyline")]
    assert files("esper_env/leyline") and found == []


def test_data_imports_nothing_from_the_project():
    bad = [f"{p} imports {m}" for p in files("esper_env/data") for m in imports(p)
           if m.startswith(("esper_env.kasmina", "esper_env.env", "esper_env.leyline", "agents"))]
    assert bad == []


@pytest.mark.parametrize("folder, forbidden", [
    ("esper_env", ("agents", "benchmarks")),              # the environment knows no controller
    ("agents", ("esper_env.kasmina", "esper_env.env", "esper_env.training", "benchmarks")),  # reports only
])
def test_arrows(folder, forbidden):
    assert offenders(folder, forbidden) == []


def test_the_checker_sees_imports():  # guards against a checker that can never fail
    assert "esper_env.leyline" in imports(ROOT / "agents/tamiyo.py")
    assert "esper_env.kasmina.blueprints" in imports(ROOT / "esper_env/kasmina/model.py")


def test_the_env_class_stays_small():
    """EsperEnv holds the Gymnasium API and the order of an epoch; bookkeeping, reports, snapshots and training
    live in their own modules. A class past 250 lines is doing another module's job."""
    tree = ast.parse((ROOT / "esper_env/env.py").read_text())
    env = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EsperEnv")
    assert env.end_lineno - env.lineno + 1 <= 250
