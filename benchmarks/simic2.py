"""Simic v2 end to end: improved-teacher labels from snapshot branches -> behaviour cloning -> model selection on
validation seeds -> comparison on held-out seeds (Esper-Fast-v0, the held-out task distribution, the real subset).

    python benchmarks/simic2.py                      # every stage; resumable (each skips work already on disk)
    python benchmarks/simic2.py --only evaluate      # just the comparisons

Where it trains: the ``cheap`` task distribution of Esper-Mixed-v0 (synthetic families and the real CIFAR-10
subset at 16x16; training seeds 1000 and up). Objectives: final validation accuracy (``val``: accuracy only) and
the return with the parameter rent (``return``); the same branches label both. Three behaviour-cloning runs per
objective (sampling seeds 0, 1, 2), all reported; the one named ``simic`` is chosen on validation seeds 900-919
of Esper-Fast-v0 by mean test accuracy, never on evaluation seeds. Outputs: ``benchmarks/results/simic2/``
(labels with their branching budget, policies, ``validation/``, ``fast/``, ``mixed/``, ``cifar-subset/`` and
``stages.json`` with every stage's wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from agents.compare import CompareConfig, run_comparison
from agents.simic import BCConfig, behaviour_clone
from agents.simic.branch import ImproveConfig, improve, with_objective
from esper_env.fileio import atomic_path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("benchmarks/results/simic2")
RESULTS = Path("benchmarks/results")
SUBSET = "../shared/data/cifar10-subset"
TASKS = dict(tasks="cheap", data_root=SUBSET)

# The sizes and the branching budget, in one place.
IMPROVE = ImproveConfig("Esper-Mixed-v0", dict(TASKS), seeds=tuple(range(1000, 1048)), objective="val",
                        max_germinate=2, stride=2, margin=0.0, out=OUT / "improved-val.npz", workers=2)
"""48 training tasks; at every 2nd epoch (and at every non-WAIT command of the heuristic) branch WAIT, the
heuristic's command, the legal ADVANCE / CULL and 2 GERMINATEs, each played to the end by the heuristic."""
BC = BCConfig(epochs=300, net_arch=(128, 128), entropy_coef=1.0, sharpen_entropy=0.1, holdout_every=6)
BC_SEEDS = (0, 1, 2)
OBJECTIVES = ("val", "return")
VALIDATION_SEEDS = tuple(range(900, 920))
EVAL_SEEDS = tuple(range(20))
BASE_ROWS = ("no-growth", "fixed", "heuristic", f"tuned=schedule:{RESULTS / 'tuned/fast/best.json'}",
             f"tuned-mixed=schedule:{RESULTS / 'tuned/mixed/best.json'}", f"bc=policy:{RESULTS / 'simic/bc.zip'}")


def policy(objective: str, seed: int) -> Path:
    return OUT / objective / f"bc{seed}.zip"


def stage_improve(stages: dict) -> None:
    improve(IMPROVE)
    with_objective(IMPROVE.out, "return", OUT / "improved-return.npz")


def stage_bc(stages: dict) -> None:
    for objective in OBJECTIVES:
        for seed in BC_SEEDS:
            if not policy(objective, seed).is_file():
                behaviour_clone(replace(BC, data=OUT / f"improved-{objective}.npz", out=policy(objective, seed),
                                        seed=seed))


def stage_validate(stages: dict) -> None:
    rows = tuple(f"{o}{s}=policy:{policy(o, s)}" for o in OBJECTIVES for s in BC_SEEDS)
    comp = run_comparison(CompareConfig("Esper-Fast-v0", {}, rows=("heuristic", *rows), seeds=VALIDATION_SEEDS,
                                        scratch=False, workers=2, out=OUT / "validation",
                                        command="python benchmarks/simic2.py --only validate"))
    means = {name: sum(r.test_accuracy for r in runs) / len(runs) for name, runs in comp.rows.items()}
    chosen = {o: max(BC_SEEDS, key=lambda s: means[f"{o}{s}"]) for o in OBJECTIVES}
    for o, s in chosen.items():
        shutil.copyfile(policy(o, s), OUT / f"simic-{o}.zip")
    stages["chosen"] = {o: f"bc seed {s} ({100 * means[f'{o}{s}']:.2f}% mean test accuracy on validation seeds)"
                        for o, s in chosen.items()}


def stage_evaluate(stages: dict) -> None:
    simic = (f"simic=policy:{OUT / 'simic-val.zip'}", f"simic-rent=policy:{OUT / 'simic-return.zip'}")
    every = tuple(f"{o}{s}=policy:{policy(o, s)}" for o in OBJECTIVES for s in BC_SEEDS)
    configs = {
        # the committed baselines' runs seed the cache: only the new rows run
        "fast": (CompareConfig("Esper-Fast-v0", {}, rows=(*BASE_ROWS, *simic), seeds=EVAL_SEEDS, workers=2,
                               flops_matched=("simic",)), RESULTS / "baselines/fast/runs.jsonl"),
        "mixed": (CompareConfig("Esper-Mixed-v0", dict(TASKS, split="heldout"), rows=(*BASE_ROWS, *simic, *every),
                                seeds=EVAL_SEEDS, workers=2, scratch=False), RESULTS / "baselines/mixed/runs.jsonl"),
        "cifar-subset": (CompareConfig("Esper-CIFAR10-v0", dict(data_root=SUBSET, train_size=4170, val_size=1000,
                                                                 test_size=1017, host="small", max_epochs=20),
                                       rows=(*BASE_ROWS, *simic), seeds=(0, 1, 2, 3, 4), workers=2, scratch=False),
                         RESULTS / "baselines/cifar-subset/runs.jsonl"),
    }
    for name, (cfg, cache) in configs.items():
        cfg.out = OUT / name
        cfg.command = f"python benchmarks/simic2.py --only evaluate  # {name}"
        cfg.out.mkdir(parents=True, exist_ok=True)
        if cache.is_file() and not (cfg.out / "runs.jsonl").exists():
            shutil.copyfile(cache, cfg.out / "runs.jsonl")
        t = time.perf_counter()
        comp = run_comparison(cfg)
        stages[f"evaluate:{name}"] = round(time.perf_counter() - t)
        print(comp.table)


STAGES = {"improve": stage_improve, "bc": stage_bc, "validate": stage_validate, "evaluate": stage_evaluate}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(STAGES), default=list(STAGES))
    args = p.parse_args(argv)
    os.chdir(ROOT)  # rows name files relative to the repository: portable records
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "stages.json"
    stages = json.loads(path.read_text()) if path.is_file() else {}
    for name in args.only:
        t = time.perf_counter()
        STAGES[name](stages)
        stages[name] = round(time.perf_counter() - t)
        with atomic_path(path, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(stages, indent=1))
        print(f"stage {name}: {stages[name]} s", flush=True)


if __name__ == "__main__":
    main()
