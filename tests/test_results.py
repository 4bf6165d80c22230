"""The committed results, read as a reviewer would: every record says where it came from (or says plainly that it
cannot), and every folder that played evaluation seeds has them claimed in the ledger."""

import json
from pathlib import Path

import pytest

from lab import ledger
from lab.records import RunRecord

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results"
RUN_FILES = sorted(RESULTS.rglob("runs.jsonl"))
SINCE = "2026-12-03"
"""Runs record commit, precision and kernels since this day."""


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def unexplained(path: Path) -> list[str]:
    """Records of ``path`` made since :data:`SINCE` that lack commit, precision or isa without a provenance note
    saying which are unrecorded (a backfilled record has a derived commit, and says so)."""
    out = []
    for d in records(path):
        missing = [k for k in ("commit", "precision", "isa") if not d.get(k)]
        if d["date"][:10] < SINCE or not missing:
            continue
        note = d.get("provenance") or ""
        if not note or "commit" in missing or "unrecorded" not in note:
            out.append(f"{d.get('row')} seed {d['seed']}: no {', '.join(missing)} ({note or 'no provenance note'})")
    return out


def test_there_are_committed_results_to_check():
    assert len(RUN_FILES) > 50


@pytest.mark.parametrize("path", RUN_FILES, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_every_recent_record_names_its_commit_precision_and_kernels_or_says_why_not(path):
    assert unexplained(path) == []
    for d in records(path):
        if d.get("provenance"):  # a backfill derives the commit and says what stays unrecorded
            assert d["commit"] and "commit derived" in d["provenance"] and "unrecorded" in d["provenance"]
            assert RunRecord.from_dict(d).commit_derived


def test_the_check_catches_a_record_without_provenance(tmp_path):  # guards against a check that cannot fail
    d = records(RUN_FILES[0])[0]
    bare = {k: v for k, v in d.items() if k not in ("commit", "precision", "isa", "provenance")}
    (tmp_path / "runs.jsonl").write_text(json.dumps(dict(bare, date="2026-12-05T00:00:00+00:00")) + "\n")
    assert unexplained(tmp_path / "runs.jsonl")
    (tmp_path / "runs.jsonl").write_text(json.dumps(dict(bare, date="2026-12-05T00:00:00+00:00", commit="abc",
                                                         provenance="commit derived; precision and isa unrecorded"))
                                         + "\n")
    assert unexplained(tmp_path / "runs.jsonl") == []


def evaluation_seeds(path: Path) -> set[int]:
    return {d["seed"] for d in records(path) if d["seed"] < 900}


EVALUATED = [p for p in RUN_FILES if evaluation_seeds(p)]


@pytest.mark.parametrize("path", EVALUATED, ids=lambda p: str(p.parent.relative_to(RESULTS)))
def test_every_evaluation_folder_has_its_seeds_claimed_in_the_ledger(path):
    info = path.parent / "evaluation.json"
    assert info.is_file(), f"{path.parent}: evaluation seeds played, but no evaluation.json names their claim"
    e = json.loads(info.read_text())
    seeds = evaluation_seeds(path)
    assert seeds <= set(e["seeds"])
    claims = [c for c in ledger.load() if (c.experiment, c.attempt, c.env) ==
              (e["experiment"], e["attempt"], e["ledger_env"])]
    assert claims and claims[0].covers(seeds), f"{path.parent}: seeds {sorted(seeds)} not claimed as {e}"


def test_backfilled_claims_say_so():
    notes = [c for c in ledger.load() if c.note]
    assert notes and all(c.note.startswith("backfilled") for c in notes)
    assert {("simic", "first"), ("simic", "second"), ("cheap-sweep", "1")} <= {(c.experiment, c.attempt)
                                                                                for c in notes}
