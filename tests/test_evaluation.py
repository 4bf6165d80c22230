"""Evaluation as data (lab/evaluation.py) and the one stage runner (lab/stages.py)."""

import json
from types import SimpleNamespace

import pytest

from lab import evaluation, ledger
from lab.evaluation import SETTINGS, Evaluation, GoalCheck, Setting, flops_ratio, goal_lines, write_goal
from lab.stages import run_stages

TINY = Setting("Esper-Tiny-v0", dict(train_size=64, val_size=32, test_size=32, host="tiny", max_epochs=2),
               "Esper-Tiny-v0 test")


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(SETTINGS, "tiny", TINY)
    monkeypatch.setattr(evaluation, "git_commit", lambda: "0123abcd")  # a clean tree, whatever the checkout's state


def test_the_registry_names_every_ledger_setting_scripts_used():
    named = {s.ledger_env for s in SETTINGS.values()}
    used = {c.env for c in ledger.load() if c.experiment != "cheap-sweep"}  # the sweep sizes its own candidates
    assert used <= named  # every setting an attempt was evaluated in has its one declaration
    assert SETTINGS["subset"].overrides["train_size"] == 4170 and SETTINGS["mixed-heldout"].overrides["split"] == \
        "heldout"


@pytest.mark.slow
def test_an_evaluation_claims_its_seeds_then_plays_and_records(tmp_path, tiny, monkeypatch):
    book = tmp_path / "ledger.json"
    ev = Evaluation("exp", "1", "tiny", (0, 1), ("no-growth", "heuristic"), tmp_path / "cmp")
    comp = ev.run(progress=False, ledger_path=book)
    assert set(comp.rows) == {"no-growth", "heuristic"} and all(len(r) == 2 for r in comp.rows.values())
    assert [(c.experiment, c.env, c.seeds) for c in ledger.load(book)] == [("exp", "Esper-Tiny-v0 test", (0, 1))]
    record = json.loads((tmp_path / "cmp" / "evaluation.json").read_text())
    assert record["commit"] == "0123abcd" and record["diff_sha256"] is None and record["seeds"] == [0, 1]
    # a replay from the record keeps the commit and date of the code that played it; a new row is a new record
    monkeypatch.setattr(evaluation, "git_commit", lambda: "4567ef01")
    ev.run(progress=False, ledger_path=book)
    assert json.loads((tmp_path / "cmp" / "evaluation.json").read_text()) == record
    Evaluation("exp", "1", "tiny", (0, 1), ("no-growth",), tmp_path / "cmp").run(progress=False, ledger_path=book)
    again = json.loads((tmp_path / "cmp" / "evaluation.json").read_text())
    assert again["commit"] == "4567ef01" and again["rows"] == ["no-growth"]  # another claim: recorded anew


def test_a_new_attempt_on_used_seeds_is_refused_before_anything_plays(tmp_path, tiny):
    book = tmp_path / "ledger.json"
    ledger.write([ledger.Claim("earlier", "1", TINY.ledger_env, (1, 2))], book)
    ev = Evaluation("exp", "2", "tiny", (0, 1), ("no-growth",), tmp_path / "cmp")
    with pytest.raises(ValueError, match="already was: choose fresh evaluation seeds"):
        ev.run(progress=False, ledger_path=book)
    assert not (tmp_path / "cmp").exists()
    assert len(ledger.load(book)) == 1


def test_a_dirty_tree_is_refused_unless_allowed_and_then_its_diff_is_hashed(tmp_path, tiny, monkeypatch):
    monkeypatch.setattr(evaluation, "git_commit", lambda: "0123abcd+dirty")
    monkeypatch.setattr(evaluation, "diff_hash", lambda: "f" * 64)
    ev = Evaluation("exp", "1", "tiny", (0,), ("no-growth",), tmp_path / "cmp")
    with pytest.raises(ValueError, match="uncommitted changes.*--allow-dirty"):
        ev.claim(tmp_path / "ledger.json")
    assert not (tmp_path / "ledger.json").exists()  # nothing claimed
    ev.allow_dirty = True
    assert ev.claim(tmp_path / "ledger.json") == "f" * 64


def test_an_unknown_setting_says_which_exist(tmp_path):
    with pytest.raises(ValueError, match="unknown evaluation setting 'nope'; choose one of fast"):
        Evaluation("exp", "1", "nope", (0,), ("no-growth",), tmp_path).config()


def test_flops_ratio_is_the_ratio_of_mean_flops_on_shared_seeds():
    rec = lambda seed, f: SimpleNamespace(seed=seed, outcome=SimpleNamespace(train_flops=f))  # noqa: E731
    rows = {"no-growth": [rec(0, 1.0), rec(1, 3.0), rec(2, 100.0)], "grown": [rec(0, 2.0), rec(1, 4.0)]}
    assert flops_ratio(rows, "grown") == pytest.approx(6.0 / 4.0)  # not the mean of ratios (1.67), seed 2 unpaired


def test_goal_lines_say_met_only_when_every_check_is(tmp_path):
    checks = [GoalCheck("a > 0", True, "+1.00 [+0.50, +1.50]"), GoalCheck("b > 0", False, "-0.20 [-1.00, +0.60]")]
    assert "**Goal not met** (1 of 2 checks)." in goal_lines(checks)
    assert "**Goal met** (1 of 1 checks)." in goal_lines(checks[:1])
    assert "**Goal not met** (0 of 0 checks)." in goal_lines([])
    text = write_goal(tmp_path / "goal.md", ["# Title", ""], checks)
    assert (tmp_path / "goal.md").read_text() == text and "| b > 0 | no | -0.20 [-1.00, +0.60] |" in text


def test_the_stage_runner_runs_in_order_records_and_resumes(tmp_path):
    seen = []
    stages = {"one": lambda d: (seen.append("one"), d.update(one=1)),
              "two": lambda d: (seen.append("two"), d.update(two=d["one"] + 1))}
    record = run_stages(tmp_path / "stages.json", stages)
    assert seen == ["one", "two"] and record["two"] == 2 and "seconds:one" in record
    assert json.loads((tmp_path / "stages.json").read_text()) == record
    run_stages(tmp_path / "stages.json", stages, only=["two"])  # a later stage reads what earlier runs recorded
    assert seen == ["one", "two", "two"]
    with pytest.raises(ValueError, match="unknown stage.*three"):
        run_stages(tmp_path / "stages.json", stages, only=["three"])


def test_a_failing_stage_keeps_the_stages_before_it(tmp_path):
    def boom(d):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        run_stages(tmp_path / "stages.json", {"one": lambda d: d.update(one=1), "two": boom})
    assert json.loads((tmp_path / "stages.json").read_text())["one"] == 1
