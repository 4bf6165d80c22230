"""Static twins: the plan a controller played, read from its records, written as a schedule that replays it."""

import json
from types import SimpleNamespace

import pytest

from lab.compare import CompareConfig, run_comparison
from lab.twin import Plan, PlannedSeed, modal_plan, plan_of, twin_schedule

CONFIG = {"slots": [1, 2], "max_epochs": 12, "blend_epochs": 2}
SIMIC = "benchmarks/results/simic2/attempt3/simic-val.zip"


def record(actions, seed=0, config=CONFIG):
    return SimpleNamespace(actions=tuple(actions), config=config, seed=seed, row="r", agent="r")


def test_a_plan_is_read_in_schedule_units():
    acts = ["WAIT"] * 12
    acts[1] = "GERMINATE(slot=2, conv_residual)"   # slot position 2 = rank 1 of slots (1, 2)
    acts[4] = "ADVANCE(slot=2)"                      # GERMINATED epoch 2, TRAINING epochs 3, 4 -> 2 TRAINING epochs
    acts[7] = "ADVANCE(slot=2)"                      # blend complete at 4 + 2 = 6; fossilized at 7: held 1
    acts[5] = "GERMINATE(slot=1, norm)"              # never advanced
    plan = plan_of(record(acts))
    assert plan == Plan((PlannedSeed(1, 1, "conv_residual", 2, 1), PlannedSeed(5, 0, "norm", 13, 12)))
    sched = twin_schedule(plan, 12)
    assert [s.epoch(12) for s in sched.seeds] == [1, 5] and sched.seeds[0].hold_epochs == 1
    culled = list(acts)
    culled[9] = "CULL(slot=1)"
    with pytest.raises(ValueError, match="culls a seed"):
        twin_schedule(plan_of(record(culled)), 12)


def test_the_modal_plan_is_the_most_common_one():
    grow = ["GERMINATE(slot=1, norm)"] + ["WAIT"] * 11
    plans = [record(["WAIT"] * 12, seed=0), record(grow, seed=1), record(grow, seed=2)]
    plan, played = modal_plan(plans)
    assert plan.seeds[0].blueprint == "norm" and [r.seed for r in played] == [1, 2]
    with pytest.raises(ValueError, match="different budgets"):
        modal_plan([record(grow), record(grow, config=dict(CONFIG, max_epochs=10))])


@pytest.mark.slow
def test_a_twin_replays_its_controllers_modal_plan_exactly(tmp_path, monkeypatch):
    """On every seed where the controller played its most common plan, twin:ROW gives the same commands at the
    same epochs and reaches the same outcome (the heuristic, and a learned policy that holds blended seeds)."""
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cfg = CompareConfig("Esper-Fast-v0", dict(train_size=256, val_size=128, test_size=128, max_epochs=8),
                        rows=("heuristic", f"simic=policy:{SIMIC}"), seeds=(0, 1), scratch=False,
                        twins=("heuristic", "simic"), out=tmp_path, workers=2)
    comp = run_comparison(cfg, progress=False)
    for row in ("heuristic", "simic"):
        plan, played = modal_plan(comp.rows[row])
        twin = {r.seed: r for r in comp.rows[f"twin:{row}"]}
        assert len(twin) == 2 and played
        for r in played:
            assert twin[r.seed].actions == r.actions, (row, r.seed)
            assert twin[r.seed].outcome == r.outcome
        saved = json.loads((tmp_path / "twins" / f"{row}.json").read_text())
        assert len(saved["seeds"]) == len(plan.seeds)
    assert "heuristic − twin:heuristic (its most common plan" in comp.table


def test_twins_are_refused_where_they_cannot_be_made(tmp_path):
    with pytest.raises(ValueError, match="twins names rows"):
        CompareConfig("Esper-Tiny-v0", rows=("heuristic",), twins=("ppo",), out=tmp_path).check()


def test_a_mixed_twin_is_one_modal_plan_per_family_in_budget_fractions():
    """Across a family's budgets plans are compared as schedules: epoch 3 of 12 and epoch 4 of 16 are one plan
    (a quarter of the budget); epoch 3 of 16 is another. Each family gets its own; a family whose modal plan
    culls refuses the twin, naming the family."""
    from agents.schedule import TaskSchedule
    from esper_env.tasks import task_distribution
    from lab.twin import modal_schedule, twin_of

    def grow(at, budget, seed):
        acts = ["WAIT"] * budget
        acts[at] = "GERMINATE(slot=1, norm)"
        return record(acts, seed=seed, config=dict(CONFIG, max_epochs=budget))

    sched, played = modal_schedule([grow(3, 12, 0), grow(3, 16, 1), grow(4, 16, 2)])
    assert [s.at for s in sched.seeds] == [0.25] and [r.seed for r in played] == [0, 2]
    dist = task_distribution("cheap")
    fast = [s for s in range(1000, 1100) if dist.family_of(s) == "fast"][:2]
    c16 = [s for s in range(1000, 1100) if dist.family_of(s) == "cifar16"][:2]
    twin, said = twin_of([grow(3, 12, fast[0]), grow(3, 12, fast[1]), grow(6, 12, c16[0]), grow(6, 12, c16[1])],
                         dist)
    assert isinstance(twin, TaskSchedule) and [c.name for c in twin.cases] == ["fast", "cifar16"]
    assert [c.schedule.seeds[0].at for c in twin.cases] == [0.25, 0.5] and "fast: norm at slot rank 0" in said
    culls = ["GERMINATE(slot=1, norm)", "CULL(slot=1)"] + ["WAIT"] * 10
    with pytest.raises(ValueError, match="task family 'cifar16': the modal plan culls"):
        twin_of([grow(3, 12, fast[0]), record(culls, seed=c16[0]), record(culls, seed=c16[1])], dist)


@pytest.mark.slow
def test_a_mixed_twin_replays_the_modal_plan_of_each_family(tmp_path, monkeypatch):
    """On Esper-Mixed-v0, twin:ROW plays each family's modal plan: the same commands wherever the controller
    played it, on tasks of different budgets and slot sets."""
    from pathlib import Path

    from lab.twin import modal_schedule, twin_of

    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cfg = CompareConfig("Esper-Mixed-v0", dict(tasks="synthetic", train_size=192, val_size=96, test_size=96),
                        rows=("fixed",), seeds=(0, 1, 2, 3, 4, 5), scratch=False, twins=("fixed",), out=tmp_path,
                        workers=2)
    comp = run_comparison(cfg, progress=False)
    assert len({r.config["max_epochs"] for r in comp.rows["fixed"]}) > 1  # budgets differ between the tasks
    twin = {r.seed: r for r in comp.rows["twin:fixed"]}
    schedule, _ = twin_of(comp.rows["fixed"], cfg.tasks())
    assert len(twin) == 6 and "one plan per task family" in comp.table
    replayed = 0
    for case in schedule.cases:
        mine = [r for r in comp.rows["fixed"] if cfg.tasks().family_of(r.seed) == case.name]
        _, played = modal_schedule(mine)
        for r in played:
            assert twin[r.seed].actions == r.actions and twin[r.seed].outcome == r.outcome
            replayed += 1
    assert replayed >= 2


def test_esper_twin_writes_the_modal_plan_of_a_committed_row(tmp_path, capsys):
    from pathlib import Path

    from agents.schedule import Schedule
    from lab.cli import main

    runs = Path(__file__).resolve().parents[1] / "benchmarks/results/demo/attempt1/runs.jsonl"
    assert main(["twin", "--runs", str(runs), "--row", "simic", "--out", str(tmp_path / "t.json")]) == 0
    assert "its most common plan, played in" in capsys.readouterr().out
    assert [(s.slot, s.blueprint) for s in Schedule.load(tmp_path / "t.json").seeds] == [(1, "conv_residual"),
                                                                                      (0, "conv_residual")]
    assert main(["twin", "--runs", str(runs), "--row", "nope", "--out", str(tmp_path / "u.json")]) == 2
    assert "no such row" in capsys.readouterr().err


def test_esper_twin_of_mixed_episodes_needs_their_distribution(tmp_path, capsys):
    from pathlib import Path

    from agents.schedule import TaskSchedule
    from lab.cli import main

    runs = Path(__file__).resolve().parents[1] / "benchmarks/results/simic2/attempt3/mixed/runs.jsonl"
    assert main(["twin", "--runs", str(runs), "--row", "simic", "--out", str(tmp_path / "t.json")]) == 2
    assert "give --tasks NAME" in capsys.readouterr().err
    assert main(["twin", "--runs", str(runs), "--row", "simic", "--out", str(tmp_path / "t.json"),
                 "--tasks", "cheap"]) == 0
    assert "one plan per task family — fast:" in capsys.readouterr().out
    twin = TaskSchedule.from_json(json.loads((tmp_path / "t.json").read_text()))
    assert [c.name for c in twin.cases] == ["fast", "synthetic16", "cifar16"]
