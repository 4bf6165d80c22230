"""``--executor ray`` for improve, collect and tune: the same files as local worker processes, resumable.

One file so that its tests share one local Ray instance (2 CPUs) in one test worker.
"""

import json

import numpy as np
import pytest

from agents.simic.dataset import load
from lab.cli import main

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

SMALL = dict(train_size=96, val_size=32, test_size=32, max_epochs=8, blend_epochs=1, plateau_threshold=1.0)
SET = [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]


def same_file(a, b) -> None:
    da, db = load(a), load(b)
    assert sorted(da.episodes) == sorted(db.episodes) and da.episodes
    for seed, ea in da.episodes.items():
        eb = db.episodes[seed]
        for name in ("obs", "mask", "teacher", "action", "reward"):
            assert np.array_equal(getattr(ea, name), getattr(eb, name)), (seed, name)
    volatile = {"date", "updated", "commit"}
    assert {k: v for k, v in da.meta.items() if k not in volatile} == \
        {k: v for k, v in db.meta.items() if k not in volatile}


def test_improve_on_ray_writes_the_labels_and_budget_of_two_worker_processes(tmp_path):
    args = ["improve", "--env", "Esper-Tiny-v0", "--seeds", "1000", "1001", "--stride", "2", *SET, "--quiet"]
    assert main([*args, "--workers", "2", "--out", str(tmp_path / "process.npz")]) == 0
    assert main([*args, "--workers", "2", "--executor", "ray", "--out", str(tmp_path / "ray.npz")]) == 0
    same_file(tmp_path / "process.npz", tmp_path / "ray.npz")
    budget = load(tmp_path / "ray.npz").meta["budget"]
    assert set(budget) == {"1000", "1001"} and all(b["epochs"] > 0 for b in budget.values())


def test_collect_on_ray_equals_the_process_executors_file(tmp_path):
    args = ["collect", "--env", "Esper-Tiny-v0", "--seeds", "1000", "1001", "1002", "--explore", "0.3", *SET,
            "--quiet"]
    assert main([*args, "--workers", "2", "--out", str(tmp_path / "process.npz")]) == 0
    assert main([*args, "--executor", "ray", "--out", str(tmp_path / "ray.npz")]) == 0
    same_file(tmp_path / "process.npz", tmp_path / "ray.npz")


def test_tune_on_ray_resumes_without_redoing_a_finished_trial(tmp_path):
    out = tmp_path / "tune"
    args = ["tune", "--env", "Esper-Tiny-v0", "--seeds", "1000", "1001", "--executor", "ray", "--out", str(out),
            *SET, "--quiet"]
    assert main([*args, "--trials", "2"]) == 0
    first = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    trace = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    assert [t["trial"] for t in trace] == [0, 1] and len(first) >= 2
    assert main([*args, "--trials", "4", "--parallel-trials", "2"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}
    assert all(after[name] == t for name, t in first.items())  # no finished episode was played again
    again = [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]
    assert [t["trial"] for t in again] == [0, 1, 2, 3]
    assert again[:2] == trace  # the finished trials kept, not rerun
    assert (out / "best.json").is_file()


def test_a_ray_task_whose_worker_dies_is_reported_and_the_rest_finish(tmp_path, monkeypatch):
    from agents.parallel import CRASH_VAR

    monkeypatch.setenv(CRASH_VAR, "collect:1001")
    out = tmp_path / "demos.npz"
    code = main(["collect", "--env", "Esper-Tiny-v0", "--seeds", "1000", "1001", "--executor", "ray", *SET,
                 "--out", str(out), "--quiet"])
    assert code == 1  # the failed episode is reported
    assert sorted(load(out).episodes) == [1000]
