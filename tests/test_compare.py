"""The comparison benchmark on the tiny preset: table structure, pairing, resume, worker-count independence."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from esper_env.leyline import SeedOutcome, SeedStage
from lab.cli import main as cli_main
from lab.compare import CompareConfig, final_architecture, mean_ci, paired, run_comparison
from lab.records import RunRecord

SMALL = dict(train_size=256, val_size=128, test_size=128, max_epochs=6, blend_epochs=1)


def config(out, workers=2, **kw):
    return CompareConfig("Esper-Tiny-v0", dict(SMALL), rows=("no-growth", "random"), seeds=(0, 1), out=out,
                         workers=workers, **kw)


def numbers(out: Path) -> dict:
    """Every run's result without what legitimately differs between runs (wall time, date)."""
    out_ = {}
    for f in sorted((out / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        out_[f.name] = {k: v for k, v in r.items() if k not in ("wall_s", "date", "cpus", "commit")}
    return out_


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp2")
    return run_comparison(config(out), progress=False), out


@pytest.mark.slow
def test_table_rows_columns_and_files(two_workers):
    comp, out = two_workers
    assert list(comp.rows) == ["no-growth", "random", "scratch:random"]
    lines = comp.table.splitlines()
    assert lines[0].count("|") == 10 and "Δ vs no-growth" in lines[0] and "train FLOPs" in lines[0]
    body = [ln for ln in lines[2:lines.index("")] if ln.startswith("| ")]
    assert [ln.split("|")[1].strip() for ln in body] == list(comp.rows)
    assert all(len(ln.split("|")) == 11 for ln in body)
    rl = lines.index(next(ln for ln in lines if ln.startswith("| controller | IQM")))
    assert [ln.split("|")[1].strip() for ln in lines[rl + 2:rl + 2 + len(comp.rows)]] == list(comp.rows)
    for name in ("table.md", "runs.jsonl", "curves.png", "flops.png", "intervals.png", "pareto.png"):
        assert (out / name).stat().st_size > 100
    records = [RunRecord.from_dict(json.loads(x)) for x in (out / "runs.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r.config["max_epochs"] == 6 and r.version and r.machine
                                     for r in records)


def test_rows_are_paired_by_seed(two_workers):
    comp, _ = two_workers
    for seed in (0, 1):
        first = {name: [r for r in rs if r.seed == seed][0] for name, rs in comp.rows.items()}
        # Same split, host initialisation and data order: the untrained model's report is the same in every row
        # that starts from the bare host.
        assert first["no-growth"].val_accuracy[0] == first["random"].val_accuracy[0]
        arch = final_architecture(first["random"])
        assert [tuple(f) for f in first["scratch:random"].fossilized] == list(arch)
        if not arch:
            assert first["scratch:random"].val_accuracy == first["no-growth"].val_accuracy
    assert comp.rows["no-growth"][0].val_accuracy != comp.rows["no-growth"][1].val_accuracy


@pytest.mark.slow
def test_one_and_two_workers_give_identical_numbers_and_resume(two_workers, tmp_path):
    _, out2 = two_workers
    run_comparison(config(tmp_path, workers=1), progress=False)
    assert numbers(tmp_path) == numbers(out2)
    # An interrupted benchmark: one run missing, the rest on disk. Only the missing one runs again.
    files = sorted((tmp_path / "runs").glob("*.json"))
    victim = files[0]
    before = {f.name: f.stat().st_mtime_ns for f in files if f != victim}
    victim.unlink()
    run_comparison(config(tmp_path, workers=2), progress=False)
    assert victim.is_file()
    assert {f.name: f.stat().st_mtime_ns for f in files if f != victim} == before
    assert numbers(tmp_path) == numbers(out2)


def test_final_architecture_counts_fully_blended_seeds():
    live = (SeedOutcome(2, "depthwise", SeedStage.BLENDING, 0.9999999999999986),
            SeedOutcome(0, "norm", SeedStage.BLENDING, 0.5), SeedOutcome(1, "lowrank", SeedStage.TRAINING, 0.0))
    result = SimpleNamespace(outcome=SimpleNamespace(architecture=((1, "conv_residual"),), live_seeds=live))
    assert final_architecture(result) == ((1, "conv_residual"), (2, "depthwise"))


def test_statistics_use_student_t_and_pair_by_seed():
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo == pytest.approx(2 - 4.302653 / 3 ** 0.5) and hi == pytest.approx(2 + 4.302653 / 3 ** 0.5)
    def run(seed, acc):
        return SimpleNamespace(seed=seed, outcome=SimpleNamespace(test_accuracy=acc))
    rows = {"a": [run(s, v) for s, v in [(0, 0.5), (1, 0.7)]], "b": [run(s, v) for s, v in [(1, 0.6), (0, 0.4)]]}
    m, lo, hi = paired(rows, "a", "b", lambda r: 100 * r.outcome.test_accuracy)
    assert m == pytest.approx(10.0) and lo == hi == pytest.approx(10.0)  # +10 on both seeds


def test_rl_statistics_match_hand_computed_cases():
    from lab.compare.stats import iqm, iqm_ci, probability_of_improvement, probability_of_improvement_ci

    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5  # mean of 3, 4, 5, 6
    assert iqm([0, 0, 10, 10, 10, 10, 100, 1000]) == 10.0  # the outer quarters do not count
    assert probability_of_improvement([1, 2], [0, 3]) == 0.5  # 1>0, 1<3, 2>0, 2<3
    assert probability_of_improvement([1, 1], [1, 0]) == 0.75  # ties count half: (0.5 + 1 + 0.5 + 1) / 4
    m, lo, hi = iqm_ci([1, 2, 3, 4, 5, 6, 7, 8])
    assert m == 4.5 and lo < 4.5 < hi and iqm_ci([3, 3, 3]) == (3.0, 3.0, 3.0)
    p, lo, hi = probability_of_improvement_ci([5, 6, 7, 8], [1, 2, 3, 4])
    assert p == lo == hi == 1.0  # every resample: every run of X beats every run of Y
    p, lo, hi = probability_of_improvement_ci([1, 2, 3, 4], [0, 1, 2, 3])
    assert p == 0.71875 and 0 <= lo < p < hi <= 1


@pytest.mark.slow
def test_ray_executor_gives_the_same_numbers(two_workers, tmp_path):
    pytest.importorskip("ray")
    _, out2 = two_workers
    run_comparison(config(tmp_path, executor="ray"), progress=False)
    assert numbers(tmp_path) == numbers(out2)


def test_cli_compare_validates_before_running(tmp_path, capsys):
    assert cli_main(["compare", "--env", "Esper-Tiny-v0", "--agents", "genius", "--out", str(tmp_path)]) == 2
    assert "unknown controller" in capsys.readouterr().err
    assert cli_main(["compare", "--env", "Esper-Nope-v0", "--out", str(tmp_path)]) == 2
    assert "unknown env id" in capsys.readouterr().err
    assert cli_main(["compare", "--env", "Esper-Tiny-v0", "--set", "max_epochs=0", "--out", str(tmp_path)]) == 2
    assert "max_epochs=0" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_saved_policy_is_a_row_with_its_scratch_row(tmp_path):
    import gymnasium as gym
    from sb3_contrib import MaskablePPO

    from agents import save_policy
    env = gym.make("Esper-Tiny-v0", **SMALL)
    model = MaskablePPO("MlpPolicy", env, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu")
    path = save_policy(model, tmp_path / "tamiyo.zip", env.unwrapped.schema)
    cfg = CompareConfig("Esper-Tiny-v0", dict(SMALL), rows=("no-growth", f"policy:{path}"), seeds=(0, 1),
                        out=tmp_path / "out", workers=2)
    comp = run_comparison(cfg, progress=False)
    assert list(comp.rows) == ["no-growth", f"policy:{path}", f"scratch:policy:{path}"]
    assert all(len(rs) == 2 for rs in comp.rows.values())


def test_named_rows_reuse_the_cache_and_name_the_table(two_workers, tmp_path):
    comp, out = two_workers
    named = run_comparison(CompareConfig("Esper-Tiny-v0", dict(SMALL), rows=("base=no-growth", "rand=random"),
                                         seeds=(0, 1), out=out, workers=2), progress=False)
    assert list(named.rows) == ["base", "rand", "scratch:rand"]
    assert [r.outcome for r in named.rows["rand"]] == [r.outcome for r in comp.rows["random"]]  # cached
    assert "| rand |" in named.table and "rand = `random`" in named.table
    assert "| base | " in named.table and "| rand | " in named.table
    assert named.table.split("| rand | ")[1].split(" | ")[1] != "—"  # Δ vs no-growth found under its new name
    for rows, match in ((("a=random", "a=fixed"), "distinct"), (("scratch:heuristic",), "kept for the scratch")):
        with pytest.raises(ValueError, match=match):
            run_comparison(CompareConfig("Esper-Tiny-v0", dict(SMALL), rows=rows, seeds=(0,), out=tmp_path),
                           progress=False)


@pytest.mark.slow
def test_compute_matched_rows_spend_the_target_flops_within_an_epoch(tmp_path):
    from esper_env.config import make_config
    from esper_env.reporting import bare_host_epoch_flops

    small = dict(SMALL, host="tiny")
    cfg = CompareConfig("Esper-Tiny-v0", small, rows=("no-growth", "fixed"), seeds=(0, 1), scratch=False,
                        flops_matched=("fixed",), out=tmp_path / "c", workers=2)
    comp = run_comparison(cfg, progress=False)
    assert {"no-growth@flops:fixed", "wide@flops:fixed"} <= set(comp.rows)
    per_epoch = bare_host_epoch_flops(make_config("tiny", **small))
    for target, longer in zip(comp.rows["fixed"], comp.rows["no-growth@flops:fixed"]):
        assert target.seed == longer.seed and longer.config["max_epochs"] >= SMALL["max_epochs"]
        assert abs(longer.outcome.train_flops - target.outcome.train_flops) <= per_epoch / 2 + 1
    for target, wide in zip(comp.rows["fixed"], comp.rows["wide@flops:fixed"]):
        assert wide.config["width"] > 1 and wide.config["max_epochs"] == SMALL["max_epochs"]
        assert abs(wide.outcome.train_flops / target.outcome.train_flops - 1) < 0.1  # widths move in 5% steps
    assert "fixed − no-growth@flops:fixed" in comp.table and "fixed − wide@flops:fixed" in comp.table
    with pytest.raises(ValueError, match="flops_matched"):
        CompareConfig("Esper-Tiny-v0", small, rows=("fixed",), flops_matched=("heuristic",), out=tmp_path / "d").check()


@pytest.mark.slow
def test_every_record_says_which_commit_precision_and_kernels_made_it(two_workers):
    from lab.compare.plan import run_precision
    from lab.records import git_commit, isa_level

    comp, out = two_workers
    records = [RunRecord.from_dict(json.loads(x)) for x in (out / "runs.jsonl").read_text().splitlines()]
    assert records and {r.precision for r in records} == {run_precision(records[0].config)}
    assert {r.isa for r in records} == {isa_level()}
    commit = git_commit().removesuffix("+dirty")  # the tree may be edited while the suite runs
    assert {r.commit.removesuffix("+dirty") for r in records} == {commit} and commit
    assert all(r.precision in ("fp32", "bf16") and r.commit for r in records)
    header = (out / "table.md").read_text().split("| controller |")[0]
    assert f"Trained in {records[0].precision} on {isa_level()} kernels" in header
    assert f"Trained in {records[0].precision}" in comp.table  # the printed table says it too


@pytest.mark.slow
def test_a_cached_run_of_another_precision_is_run_again_not_paired(tmp_path, monkeypatch):
    import importlib

    plan = importlib.import_module("lab.compare.plan")  # the module (the package exports a function plan)
    cfg = dict(train_size=64, val_size=32, test_size=32, max_epochs=2)

    def compare(precision):
        monkeypatch.setattr(plan, "run_precision", lambda config: precision)  # as "auto" resolves elsewhere
        return run_comparison(CompareConfig("Esper-Tiny-v0", cfg, rows=("no-growth",), seeds=(0,), scratch=False,
                                            out=tmp_path), progress=False)

    first = compare("fp32")
    assert [r.precision for r in first.rows["no-growth"]] == ["fp32"]
    again = compare("bf16")  # the fp32 run is in the cache: it must not stand in for the bf16 one
    assert [r.precision for r in again.rows["no-growth"]] == ["bf16"]
    assert again.rows["no-growth"][0].date >= first.rows["no-growth"][0].date
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2  # both kept, under keys that differ by precision
    # A record filed under the very key of a run of another precision is not taken either.
    spec = plan.plan(CompareConfig("Esper-Tiny-v0", cfg, rows=("no-growth",), seeds=(0,), out=tmp_path))[0]
    from lab.compare import Executor
    ex = Executor(tmp_path)
    assert ex.cached(spec).precision == "bf16"
    record = json.loads(ex.path(spec).read_text())
    ex.path(spec).write_text(json.dumps(dict(record, precision="fp32")))
    assert ex.cached(spec) is None
    legacy = {k: v for k, v in record.items() if k != "precision"}  # made before precision was recorded
    ex.path(spec).write_text(json.dumps(legacy))
    assert ex.cached(spec) is None
    from lab.compare.report import provenance
    with pytest.raises(ValueError, match="different precisions"):
        provenance(first.rows["no-growth"] + again.rows["no-growth"])


def test_the_closing_sentence_follows_the_numbers():
    from lab.compare.report import verdict

    def runs(accs):
        return [SimpleNamespace(seed=s, outcome=SimpleNamespace(test_accuracy=a)) for s, a in enumerate(accs)]
    comp = SimpleNamespace(rows={"no-growth": runs([0.20, 0.22, 0.21]), "heuristic": runs([0.30, 0.31, 0.33]),
                                 "learned": runs([0.31, 0.30, 0.34]), "scratch:learned": runs([0.9, 0.9, 0.9])})
    text = verdict(comp)
    assert text.startswith("On these 3 seeds, learned has the best mean test accuracy (31.67%)")  # scratch aside
    assert "it beats no-growth (+10.67 [" in text and "not separated from heuristic (+0.33 [" in text


def test_picking_reads_validation_accuracy_not_the_test_split():
    from lab.compare.stats import pick

    def runs(val, test):
        return [SimpleNamespace(seed=900 + s, outcome=SimpleNamespace(val_accuracy=v, test_accuracy=t))
                for s, (v, t) in enumerate(zip(val, test))]
    rows = {"a": runs([0.60, 0.62], [0.70, 0.72]), "b": runs([0.65, 0.66], [0.50, 0.52])}  # test says a, val says b
    name, means = pick(rows, ["a", "b"])
    assert name == "b" and means == pytest.approx({"a": 61.0, "b": 65.5})
    for r in rows["a"]:
        r.seed -= 900  # evaluation seeds: never picked on
    with pytest.raises(ValueError, match="picking's seeds must be distinct seeds in 900-999"):
        pick(rows, ["a", "b"])


def test_compute_matching_counts_epochs_at_what_the_bare_run_measured_where_a_variant_changed_them():
    from types import SimpleNamespace

    from lab.compare.plan import _measured_scale

    run = lambda flops, epochs: SimpleNamespace(outcome=SimpleNamespace(train_flops=flops, epochs=epochs))  # noqa: E731
    assert _measured_scale(None, 10.0) == 1.0  # nothing measured: the analytic cost
    assert _measured_scale(run(160.5, 16), 10.0) == 1.0  # within 1%: stationary, the analytic cost as it was
    assert _measured_scale(run(96.0, 16), 10.0) == pytest.approx(0.6)  # new classes arrive: 60% of the images
