"""Every benchmark script imports, has a ``main(argv)``, and the cheap ones run at their smallest size.

The README tells readers to run these scripts; a script that no longer imports (a renamed name, say) fails
here rather than in a reader's hands. The heavy ones (compare presets, performance, simic) are imported only:
the functions they call are tested in their own files, at tiny sizes.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PATHS = {p.stem: p for p in sorted([*BENCHMARKS.glob("*.py"), *(BENCHMARKS / "perf").glob("*.py")])}
"""Every script: one per question in benchmarks/, the speed probes in benchmarks/perf/."""
SCRIPTS = sorted(PATHS)


def load(name: str):
    folder = str(PATHS[name].parent)
    sys.path.insert(0, folder)  # scripts import their siblings (throughput -> data_throughput)
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", PATHS[name])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # as an import would: dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(folder)


def test_simic2_attempts_name_files_that_are_committed():
    """Every attempt can be re-run from a clone: the labels it reuses and the schedules its branches roll out."""
    simic2 = load("simic2")
    for a in simic2.ATTEMPTS.values():
        for folder in a.reuse:
            for objective in simic2.OBJECTIVES:
                assert (ROOT / folder / f"improved-{objective}.npz").is_file(), (a.number, folder)
        if a.improve.rollout.startswith("schedule:"):
            assert (ROOT / a.improve.rollout.split(":", 1)[1]).is_file(), a.number
        assert min(a.improve.seeds) >= 1000 and max(a.subset_seeds) < 900


def test_reactive_headroom_counts_the_seeds_a_paired_interval_needs():
    import math

    seeds_needed = load("reactive_headroom").seeds_needed
    assert seeds_needed(1.0, 2.0, power=False) == pytest.approx((1.96 * 2.0) ** 2)
    assert seeds_needed(1.0, 2.0, power=True) > seeds_needed(1.0, 2.0, power=False)
    assert seeds_needed(0.5, 2.0, power=False) == pytest.approx(4 * seeds_needed(1.0, 2.0, power=False))
    assert math.isinf(seeds_needed(0.0, 2.0, power=False)) and math.isinf(seeds_needed(-1.0, 2.0, power=True))
    with pytest.raises(SystemExit, match="training seeds"):
        load("reactive_headroom").main(["--seeds", "5", "--out", "/nonexistent"])


def test_the_scripts_are_all_here():
    assert {"compare", "isolation", "synthetic_difficulty", "simic", "reproduce"} <= {p.stem for p in
                                                                                     BENCHMARKS.glob("*.py")}
    assert {"performance", "throughput", "data_throughput", "snapshot", "branching", "task_costs"} == {
        p.stem for p in (BENCHMARKS / "perf").glob("*.py")}  # the speed probes, apart from the questions


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_imports_and_has_main(name):
    assert callable(load(name).main)


SMALLEST = {
    "isolation": ["--blueprints", "norm", "--host-epochs", "1", "--seed-epochs", "2", "--blend-epochs", "1",
                  "--train-size", "256", "--val-size", "128"],
    "synthetic_difficulty": ["--seeds", "0", "--epochs", "1", "--host", "tiny", "--train-size", "256",
                             "--test-size", "128", "--widths", "1"],
    "data_throughput": ["--images", "256", "--batch-size", "64"],
    "snapshot": ["--repeats", "1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_cheap_scripts_run_at_their_smallest_size(name, capsys):
    load(name).main(SMALLEST[name])
    assert capsys.readouterr().out.strip()  # it printed its numbers


@pytest.mark.slow
def test_a_committed_comparison_run_reproduces_bit_for_bit():
    """benchmarks/reproduce.py re-runs one committed Esper-Fast-v0 run from its record (in a fresh process, so
    that it can ask torch for the kernels the results were made with) and compares every number. A change that
    moves results fails here: regenerate the committed results with it, and say so."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(BENCHMARKS / "reproduce.py"), str(BENCHMARKS / "results/fast/runs.jsonl"),
                          "--rows", "heuristic", "--sample", "1", "--kernels", "AVX2"], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 0 and "1 of 1 runs reproduced" in res.stdout, res.stdout + res.stderr[-2000:]


@pytest.mark.slow
def test_reproduce_replays_a_fresh_record_with_the_kernels_and_precision_it_names(tmp_path):
    """A run made now names its kernels and precision; reproduce.py selects them from the record (here the
    machine's own, so it reproduces bit for bit) and says which it used."""
    import json

    from lab.compare import CompareConfig, plan, run_one
    from lab.records import isa_level

    cfg = CompareConfig("Esper-Tiny-v0", dict(train_size=64, val_size=32, test_size=32, max_epochs=3),
                        rows=("heuristic",), seeds=(0,), scratch=False, out=tmp_path)
    (tmp_path / "runs.jsonl").write_text(json.dumps(run_one(plan(cfg)[0]).to_dict()) + "\n")  # as compare writes it
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, str(BENCHMARKS / "reproduce.py"), str(tmp_path / "runs.jsonl"),
                          "--sample", "1"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert res.returncode == 0 and "1 of 1 runs reproduced" in res.stdout, res.stdout + res.stderr[-2000:]
    assert f"recorded kernels {isa_level()}; using {isa_level()}" in res.stdout


def test_reproduce_maps_recorded_kernels_to_settings():
    reproduce = load("reproduce")
    assert reproduce.kernel_settings("AVX2") == {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert reproduce.kernel_settings("AVX512 (oneDNN AVX2)") == {"ATEN_CPU_CAPABILITY": "avx512",
                                                                 "ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert reproduce.kernel_settings(None) == {}
    with pytest.raises(ValueError, match="unknown instruction-set level"):
        reproduce.kernel_settings("NEON")


def test_importing_reproduce_leaves_the_kernels_alone(monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    load("reproduce")
    assert "ATEN_CPU_CAPABILITY" not in os.environ  # else worker processes started later would use other kernels


def test_the_demo_shows_an_event_family_beside_fast_with_the_shipped_learned_tamiyo(tmp_path, monkeypatch):
    """make demo's rows (issue 36: no-growth, heuristic, reactive, the best static plan, the shipped learned Tamiyo)
    load through the public controller paths (checked as a comparison checks them), on fresh evaluation seeds, on
    Esper-Fast-v0 and on Esper-Faulty-v0 (where no growth is the best plan written in advance)."""
    monkeypatch.chdir(ROOT)  # the preset's paths are relative to the repository, where the script runs
    fast, faulty = load("compare").PRESETS["demo"]
    for demo in (fast, faulty):
        names = [row.split("=", 1)[0] for row in demo.rows]
        assert names[:3] == ["no-growth", "heuristic", "reactive"] and names[-1] == "simic"
        assert demo.rows[-1].split("=", 1)[1].startswith("policy:")
        cfg = demo.config()
        cfg.out = tmp_path / demo.where
        cfg.check()  # every file exists, loads as data and fits the env
        assert len(demo.seeds) >= 6 and max(demo.seeds) < 900
    assert (fast.config().env_id, faulty.config().env_id) == ("Esper-Fast-v0", "Esper-Faulty-v0")
    assert "best-static" in [row.split("=", 1)[0] for row in fast.rows]


def test_experiment_scripts_name_their_evaluations_in_the_ledger():
    """Every evaluation a script runs has a ledger name, and the committed ledger holds what they already ran, so a
    rerun is allowed and a new attempt on those seeds is not."""
    from lab import ledger

    claims = {(c.experiment, c.attempt, c.env) for c in ledger.load(ROOT / "benchmarks/results/ledger.json")}
    simic2, baselines = load("simic2"), load("baselines")
    assert {("simic2", str(n), env) for n in simic2.ATTEMPTS for env in simic2.LEDGER_ENVS.values()} <= claims
    assert set(baselines.LEDGER_ENVS) == set(baselines.PRESETS)
    assert {("baselines", "1", env) for env in baselines.LEDGER_ENVS.values()} <= claims


def evaluation_folders():
    """(script, setting, committed folder) for every evaluation a script declares whose results are committed."""
    compare, baselines, simic2 = load("compare"), load("baselines"), load("simic2")
    simic3, ceiling = load("simic3"), load("ceiling")
    out = [("compare", ev.where, str(ev.out).removeprefix("benchmarks/results/"))
           for name, evs in compare.PRESETS.items() if name != "demo" for ev in evs]
    out += [("compare", "fast", "demo/attempt1")]  # the first demo (500-509)
    out += [("compare", w, f"demo/attempt2/{w}") for w in ("fast", "faulty")]  # the second (510-515)
    out += [("compare", w, f"demo/attempt3/{w}") for w in ("fast", "faulty")]  # the third (516-521)
    out += [("compare", ev.where, f"demo/{ev.where}") for ev in compare.PRESETS["demo"]]
    simic4 = load("simic4")
    out += [("simic4", w.setting, str(a.out / "evaluate" / name).removeprefix("benchmarks/results/"))
            for a in simic4.ATTEMPTS.values() for name, w in a.evaluations.items()
            if (a.out / "evaluate" / name / "runs.jsonl").is_file() or a.name == "1"]
    out += [("simic4", c.where.setting, str(simic4.ATTEMPTS[n].out / "confirm" / c.where.setting).removeprefix(
        "benchmarks/results/")) for n, cs in simic4.CONFIRM.items() for c in cs
        if c.static and c.where.best_static == "no-growth"  # (the replay reads the no-growth row)
        and (simic4.ATTEMPTS[n].out / "confirm" / c.where.setting / "runs.jsonl").is_file()]
    out += [("baselines", ev.where, str(ev.out).removeprefix("benchmarks/results/"))
            for ev in baselines.PRESETS.values()]
    out += [("simic3", w.setting, f"simic3/pi-fast-residual/evaluate/{name}") for name, w in simic3.WHERE.items()]
    out += [("ceiling", t.where, f"ceiling/{t.name}/evaluate") for t in ceiling.TARGETS.values()]
    named = {"fast": "fast", "mixed": "mixed-heldout", "cifar-subset": "subset"}
    out += [("simic2", named[name], f"simic2/attempt3/{name}") for name in simic2.LEDGER_ENVS]
    return out


@pytest.mark.parametrize("script, where, folder", evaluation_folders())
def test_the_evaluation_registry_replays_the_committed_settings(script, where, folder, monkeypatch):
    """Moving the scripts' settings into lab.evaluation.SETTINGS changed no run: the built-in rows of every committed
    evaluation plan to exactly the cache keys they were recorded under (the key holds the env id, every config field
    that matters, the controller and the seed)."""
    import dataclasses
    import json

    from lab.compare import plan
    from lab.evaluation import Evaluation

    monkeypatch.chdir(ROOT)
    records = [json.loads(line) for line in (BENCHMARKS / "results" / folder / "runs.jsonl").read_text().splitlines()]
    recorded = {(r["row"], r["seed"]): r for r in records if r["row"] in ("no-growth", "heuristic")}
    seeds = tuple(sorted({seed for _, seed in recorded}))
    assert seeds, folder
    rows = tuple(r for r in ("no-growth", "heuristic") if any(row == r for row, _ in recorded))
    specs = plan(Evaluation("x", "1", where, seeds, rows, Path("unused")).config())
    for spec in specs:
        r = recorded[(spec.row, spec.seed)]
        assert dataclasses.replace(spec, precision=r.get("precision")).key == r["key"], (script, folder, spec.row)


def test_the_events_headroom_reads_a_drawn_family_as_one_plan_against_the_oracles_choice_per_strength():
    """events.py's mixture(): (i) one static plan for every draw, (ii) each strength's own, (iii) each strength's
    best reveal plan, all cross-fitted -- on a table whose answer is known."""
    events = load("events")
    scores = {2: dict(zip(events.FAMILIES["capacity"]["rows"], (50, 40, 45, 0, 0, 44, 42))),
              10: dict(zip(events.FAMILIES["capacity"]["rows"], (20, 30, 28, 0, 0, 26, 29)))}
    seeds = [1000, 1001, 1002, 1003]
    runs = {(k, s, row): dict(test=v + (s % 2) * 0.5, val_gain=v / 100, rent_units=10.0 * (row != "no-growth"),
                              illegal=0.0) for k, rows in scores.items() for s in seeds for row, v in rows.items()}
    lines, gain = events.mixture("capacity", runs, (2, 10), seeds, (0.0, 1.0))
    row = next(ln for ln in lines if ln.startswith("| test accuracy"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    # one-early is the one plan for all (36.5); per count, no growth at 2 (50) and late-two at 10 (29): +3.0
    assert cells[1:4] == ["36.75", "40.25", "39.75"] and gain["test accuracy"][0] == pytest.approx(3.0)
    # at a rent of 1 (x100 per unit) growth costs 1000 points: no growth for everything, nothing to gain
    assert gain["return, rent 1"][0] == pytest.approx(0.0)


def test_simic4_replicates_learn_on_their_own_training_seeds_and_evaluate_on_enough_fresh_ones():
    """Issue 36: every attempt, replicate and round labels its own training seeds; the other residual bases and the
    blind ablation share round 0 (its labels do not depend on the learner) and the blind one masks the report; fresh
    evaluation seeds are disjoint across settings and attempts, and as many as the issue asks (>= 20 per family,
    >= 10 on the real subset, >= 30 on the mixed distribution: its two families pooled)."""
    simic4 = load("simic4_attempts")  # the attempts as data
    seeds = [s for a in simic4.ATTEMPTS for r in simic4.ATTEMPTS[a].replicates
             for k in range(simic4.ATTEMPTS[a].rounds) for s in simic4.config(r, attempt=a).seeds(k)]
    assert len(seeds) == len(set(seeds)) and min(seeds) >= 1000
    evaluation = []
    for name, a in simic4.ATTEMPTS.items():
        for r in a.replicates:
            blind, full = simic4.config(r, blind=True, attempt=name), simic4.config(r, attempt=name)
            assert blind.seeds(0) == full.seeds(0) and blind.observe == simic4.BLIND and full.observe == a.observe
            assert blind.rounds == 1 and blind.out != full.out and full.critic and full.race == simic4.RACE
            outs = {simic4.config(r, attempt=name, base=b).out for b in a.bases} | {blind.out}
            assert len(outs) == len(a.bases) + 1  # every base clones into its own folder
        evaluation += [s for w in a.evaluations.values() for s in w.seeds]
        minimum = {"faulty": 20, "fast": 20, "faulty-real": 10, "subset": 10}
        assert all(len(a.evaluations[k].seeds) >= n for k, n in minimum.items())
        assert sum(len(a.evaluations[k].seeds) for k in simic4.POOLED) >= 30
        assert all(min(w.validation) >= 900 for w in a.evaluations.values())
    confirmations = [c for cs in simic4.CONFIRM.values() for c in cs]
    evaluation += [s for c in confirmations for s in c.where.seeds]  # a confirmation's seeds are fresh too
    assert len(evaluation) == len(set(evaluation)) and max(evaluation) < 900
    assert all(c.plan.is_file() for c in confirmations)  # its plan is written before it plays


def test_simic4_goal_index_reads_every_attempts_verdict_and_says_which_were_not_evaluated(tmp_path, monkeypatch):
    from dataclasses import replace

    from lab.evaluation import GoalCheck, write_goal

    report = load("simic4_report")
    one, two = (replace(report.ATTEMPTS["4"], name=n, out=tmp_path / f"attempt{n}") for n in ("1", "2"))
    monkeypatch.setattr(report, "ATTEMPTS", {"1": one, "2": two})
    monkeypatch.setattr(report, "OUT", tmp_path)
    monkeypatch.setattr(report, "GOAL", tmp_path / "goal.md")
    checks = [GoalCheck("faulty: simic-a − reactive > 0", False, "-0.50 [-1.00, +0.00]"),
              GoalCheck("faulty: simic-a − heuristic > 0", True, "+3.00 [+2.00, +4.00]")]
    two.out.mkdir()
    write_goal(two.goal, ["# two", ""], checks, "Goal (issue 36)")
    text = report.write_index().read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert rows[0].startswith("| 2 ") and "| 1 of 2 |" in rows[0] and "simic-a -0.50 [-1.00, +0.00]" in rows[0]
    assert "heuristic" not in rows[0] and "not evaluated" in rows[1]


def test_simic4_counts_the_commands_a_row_gave_per_episode():
    """goal.md's germinations / culls column: commands of one kind per episode, over the records that kept them."""
    from types import SimpleNamespace

    simic4 = load("simic4")
    records = [SimpleNamespace(actions=("WAIT", "GERMINATE(slot=1, conv_residual)", "CULL(slot=1)", "CULL(slot=2)")),
               SimpleNamespace(actions=("WAIT", "WAIT")), SimpleNamespace(actions=None)]
    assert simic4.commands(records, "CULL") == 1.0 and simic4.commands(records, "GERMINATE") == 0.5
    assert np.isnan(simic4.commands(records[2:], "CULL"))


def test_the_racing_test_reads_its_verdict_off_the_fresh_states_only(tmp_path, monkeypatch):
    """racing.md's verdict is the planned rule on the fresh targets; the states it was picked on are reported, not
    counted."""
    import json
    from dataclasses import replace

    from agents.simic.rollout import Branch
    from agents.simic.truncation import BranchedState

    racing = load("racing_report")
    monkeypatch.setattr(racing, "OUT", tmp_path)
    test = replace(racing.RACING_TEST, picked_on=("seen",), test=("fresh",))

    def b(action, curve):
        return Branch(action, curve[-1], 0.0, len(curve), tuple(curve), tuple(0.0 for _ in curve))

    # the winner (2) trails by a point at rung 2 (the gap keeps it: close) or by 21 (dropped: far)
    close = BranchedState(1000, 0, 0, (b(0, [0.2] * 8), b(1, [0.31] * 8), b(2, [0.30] * 3 + [0.4] * 5)))
    far = BranchedState(1001, 0, 0, (b(0, [0.2] * 8), b(1, [0.31] * 8), b(2, [0.10] * 3 + [0.4] * 5)))
    for name, states in (("seen", [close]), ("fresh", [far])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.json").write_text(json.dumps(dict(states=[s.to_dict() for s in states])))
    text = racing.racing_test(test)
    assert "**Racing target not met** on the fresh states" in text and "0.0% equal (1 states)" in text
    assert "| seen | first rung 2, > 2 points behind the leader dropped | 1 (1) | 100.0% |" in text
    (tmp_path / "fresh" / "1.json").write_text(json.dumps(dict(states=[close.to_dict()])))
    # 1 dropped at rung 4 (9 points behind), 2 to the end: 12 of 24 epochs, the label right
    assert "**Racing target met** on the fresh states" in racing.racing_test(test)
    assert "50% of the epochs, 100.0% equal (1 states)" in (tmp_path / "racing.md").read_text()
    assert (tmp_path / "racing.md").read_text().startswith("# Racing labels")


def test_the_retest_values_first_draw_labels_on_the_second_and_counts_episodes_per_target(tmp_path, monkeypatch):
    """retest.md: a label read on the first data order is valued on the second; two targets that share a seed are two
    episodes (the intervals are over episodes)."""
    import json

    from agents.simic.rollout import Branch
    from agents.simic.truncation import BranchedState

    racing = load("racing_report")
    monkeypatch.setattr(racing, "OUT", tmp_path)
    monkeypatch.setattr(racing, "RETEST", (("a-fresh", "a-retest"), ("b-fresh", "b-retest")))

    def state(seed, final):  # the own command 0; 1 and 2 end at final[1], final[2]
        return BranchedState(seed, 0, 0, tuple(Branch(a, v, 0.0, 4, (0.3, 0.3, 0.3, v), (0.0,) * 4)
                                               for a, v in enumerate(final)))

    first = [state(1000, (0.30, 0.35, 0.33)), state(1001, (0.30, 0.35, 0.33))]  # full label 1 at both
    second = [state(1000, (0.30, 0.31, 0.34)), state(1001, (0.30, 0.36, 0.32))]  # label 2, then 1 again
    for name, states in (("a-fresh", first), ("a-retest", second), ("b-fresh", first), ("b-retest", second)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "1.json").write_text(json.dumps(dict(states=[s.to_dict() for s in states])))
    text = racing.retest_report()
    pooled = next(line for line in text.splitlines() if line.startswith("| **pooled**"))
    cells = [c.strip() for c in pooled.split("|")[1:-1]]
    assert cells[1] == "4 (4)" and cells[2] == "4"  # 2 targets x 2 seeds: four episodes, not two
    assert cells[3].startswith("50.0%")  # the full label repeats at one state of two
    assert cells[6].startswith("+3.50")  # label 1 on the second draw: +1 and +6 points over the own command
    assert (tmp_path / "retest.md").is_file()
    monkeypatch.setattr(racing, "RETEST", (("a-fresh", "nowhere"),))
    assert racing.retest_report() is None  # before the retest played


def test_critic_labels_are_valued_on_the_other_data_order_against_draw_as_branch_label(tmp_path, monkeypatch):
    """critic.md: draw A's branch label and each critic's label, both valued on draw B, paired by episode."""
    from types import SimpleNamespace

    from agents.simic.rollout import Branch
    from agents.simic.truncation import BranchedState

    critic_retest = load("critic_retest")
    monkeypatch.setattr(critic_retest, "OUT", tmp_path)
    monkeypatch.setattr(critic_retest, "read_states", lambda name: states[name])

    def state(seed, own_final, cull_final, obs):  # own command 0, CULL 20
        return BranchedState(seed, 3, 0, (Branch(0, own_final, 0.0, 1, (own_final,), (0.0,)),
                                          Branch(20, cull_final, 0.0, 1, (cull_final,), (0.0,))), (obs,))

    # A: culling looks better at both seeds; B: it is at seed 1000 only. The critic culls where obs[0] > 0.5 (1000).
    states = {"faulty-growing": [state(1000, 0.30, 0.33, 0.9), state(1001, 0.30, 0.32, 0.1)],
              "faulty-growing-retest": [state(1000, 0.30, 0.34, 0.9), state(1001, 0.30, 0.28, 0.1)]}
    cull_if = SimpleNamespace(label=lambda obs, own, cands, margin: 20 if obs[0] > 0.5 else own)
    monkeypatch.setattr(critic_retest, "critic_of", lambda r: (cull_if, 0.5))
    monkeypatch.setattr(critic_retest, "pooled_critic", lambda: (cull_if, 0.25))
    text = critic_retest.report(tmp_path / "critic.md")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in text.splitlines()
            if line.startswith("| draw A") or line.startswith("| critic b")}
    assert rows["draw A's branch label (margin 0)"][0] == "2 of 2"
    assert rows["draw A's branch label (margin 0)"][1].startswith("+1.00")  # (+4 - 2) / 2 on B
    assert rows["critic b (margin 0.5) (shipped)"][1].startswith("+2.00")  # +4 at 1000, the own command at 1001
    assert rows["critic b (margin 0.5) (shipped)"][2].startswith("+1.00")  # paired: 0 and +2
    assert "**Critic**" in text and "at 1 of 2 states against 2" in text
    assert "the pooled critic − the shipped critic, on draw B: +0.00" in text  # the same rule: no difference


def test_a_confirmation_describes_ties_with_the_reactive_heuristic_and_pools_the_first_evaluation():
    """The descriptive lines under a confirmation's table, on attempt 4's committed faulty runs: ties counted seed by
    seed, the pooled sample the confirmation's seeds plus the first evaluation's (none counted twice)."""
    import json

    from lab.records import RunRecord

    simic4 = load("simic4")
    a = simic4.ATTEMPTS["4"]
    R: dict[str, list] = {}
    for line in (a.out / "confirm" / "faulty" / "runs.jsonl").read_text().splitlines():
        r = RunRecord.from_dict(json.loads(line))
        R.setdefault(r.row, []).append(r)
    first = simic4.first_evaluation(a, "faulty")
    assert {r.seed for r in first["reactive"]} == set(a.evaluations["faulty"].seeds)
    assert simic4.first_evaluation(a, "nowhere") == {}
    (line,) = simic4.described(R, ["simic-b"], first)
    ties = sum(x.outcome.test_accuracy == y.outcome.test_accuracy for x, y in
               zip(sorted(R["simic-b"], key=lambda r: r.seed), sorted(R["reactive"], key=lambda r: r.seed)))
    assert f"on {ties} of 150 seeds" in line and "over 198 seeds" in line and 0 < ties < 150


def test_simic4_ppo_trains_on_its_own_seeds_and_evaluates_on_seeds_no_simic4_attempt_used():
    """The PPO study fine-tunes each replicate on 300 training seeds of its own (none of attempt 4's labelling
    seeds) and plays fresh evaluation seeds that no Simic v4 attempt or confirmation played; its plan is written."""
    ppo, simic4 = load("simic4_ppo"), load("simic4")
    training = [s for r, start in ppo.SEED_START.items() for s in range(start, start + ppo.TIMESTEPS // 16)]
    labelled = {s for a in simic4.ATTEMPTS for r in simic4.ATTEMPTS[a].replicates
                for k in range(simic4.ATTEMPTS[a].rounds) for s in simic4.config(r, attempt=a).seeds(k)}
    assert len(training) == len(set(training)) == 900 and min(training) >= 1000 and not set(training) & labelled
    used = {s for a in simic4.ATTEMPTS.values() for w in a.evaluations.values() for s in w.seeds}
    used |= {s for cs in simic4.CONFIRM.values() for c in cs for s in c.where.seeds}
    fresh = (*ppo.FAULTY, *ppo.FAST)
    assert len(ppo.FAULTY) >= 20 and len(ppo.FAST) >= 20 and max(fresh) < 900 and not set(fresh) & used
    assert all((ROOT / ppo.clone(r)).is_file() for r in ppo.SEED_START)  # attempt 4's picked clones
    assert (ROOT / ppo.OUT / "plan.md").is_file()
    rent0 = ppo.VARIANTS["rent0"]  # the diagnostic: the same clones and seeds, the reward without rent
    assert rent0.overrides == {"rent_coef": 0.0} and rent0.timesteps <= ppo.TIMESTEPS and rent0.out != ppo.OUT
    with pytest.raises(SystemExit):  # validation seeds only: no evaluate stage
        ppo.main(["--stage", "evaluate", "--variant", "rent0"])
