"""The README is a user guide that stays true: short, its names explained before they are used, every link in it
and in docs/ resolving (files and #anchors), and its demo table the committed output of `make demo`."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks/results/README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not t.startswith(("http://", "https://", "mailto:"))]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_link_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert broken == []


def test_the_checker_finds_links_and_anchors():  # guards against a checker that can never fail
    assert "docs/ARCHITECTURE.md" in links(README)
    assert slug("Simic v2: a teacher (from `branches`)") == "simic-v2-a-teacher-from-branches"


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 350


def test_the_glossary_precedes_the_first_use_of_each_name():
    lines = README.read_text().splitlines()
    for name in ("Leyline", "Kasmina", "Tamiyo", "Simic"):
        first = next(i for i, ln in enumerate(lines) if name in ln)
        assert lines[first].startswith(f"| **{name}** |"), f"{name} is used on line {first + 1} before the glossary"


def test_the_readme_demo_table_is_the_committed_demo_output():
    """The tables between the demo markers are the ones `make demo` printed (one per setting, with its heading),
    committed in benchmarks/results/demo (regenerate both with `make demo` and copy runs/demo there; the README says
    on which machine)."""
    text = README.read_text()
    block = text.split("<!-- demo table: the output of make demo -->\n")[1].split("<!-- end demo table -->")[0]
    committed = (ROOT / "benchmarks/results/demo/table.md").read_text()
    parts = [p.strip() for p in block.split("\n\n") if p.strip()]
    assert len(parts) >= 2 and all(p in committed for p in parts)


def test_the_architecture_page_names_every_module():
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    modules = [p for pkg in ("esper_env", "agents", "lab") for p in (ROOT / pkg).iterdir()
               if (p.suffix == ".py" and not p.name.startswith("_")) or (p.is_dir() and (p / "__init__.py").exists())]
    missing = [p.name for p in modules if (p.name + "/" if p.is_dir() else p.name) not in text]
    assert modules and missing == []


def test_the_readme_schedule_example_is_a_schedule():
    import json

    from agents.schedule import Schedule

    blocks = re.findall(r"```json\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks and all(Schedule.from_json(json.loads(b)).seeds for b in blocks)
