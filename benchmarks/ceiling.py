"""The static ceiling on Esper-Fast-v0: the best plan a search can find, and how controllers stand against it.

    python benchmarks/ceiling.py                 # every stage; resumable (each stage's episodes are cached)
    python benchmarks/ceiling.py --only evaluate

Stages, all on Esper-Fast-v0, writing to ``benchmarks/results/ceiling/fast/``:

1. ``plans``: the heuristic and the shipped learned Tamiyo (Simic v2, attempt 3) on 20 *training* seeds; each
   one's most common plan written as a schedule, its static twin (``twin-heuristic.json``, ``twin-simic.json``).
2. ``tune``: three independent ``esper tune`` runs (sampler seeds 0, 1, 2) on training seeds 1000-1004, up to three
   seeds per schedule in any slot rank, each starting from the known plans (the old tuned schedule and both
   twins, enqueued first).
3. ``validate``: each run's best and the old tuned schedule on validation seeds 900-919; the one with the best
   mean final *validation* accuracy is ``best.json`` (the test split is never read to pick).
4. ``evaluate``: on 20 fresh evaluation seeds (claimed in the ledger): no-growth, heuristic, the old tuned
   schedule, the new best static plan, the learned Tamiyo, the twins of the heuristic and of the learned Tamiyo,
   and the bare host and a wider host at the best static plan's FLOPs.

``stages.json`` records each stage's wall time and episodes; ``ceiling.md`` the reading.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

from agents import ledger
from agents.compare import CompareConfig, run_comparison
from agents.compare.stats import pick
from agents.tune import TuneConfig, tune
from agents.twin import modal_plan, twin_schedule
from esper_env.fileio import atomic_path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
OUT = RESULTS / "ceiling/fast"
ENV = "Esper-Fast-v0"
TUNED = RESULTS / "tuned/fast/best.json"
"""The old tuned schedule (one search of 60 trials, max two seeds)."""
LEARNED = RESULTS / "simic2/attempt3/simic-val.zip"
PLAN_SEEDS = tuple(range(1000, 1020))
"""Training seeds the controllers' plans are read on (never evaluation or validation seeds)."""
TUNE = TuneConfig(ENV, trials=40, seeds=tuple(range(1000, 1005)), max_seeds=3, workers=2)
"""Each search: 40 trials x 5 training seeds = 200 episodes (plus nothing for the enqueued plans, which are among
the 40)."""
SAMPLER_SEEDS = (0, 1, 2)
VALIDATION_SEEDS = tuple(range(900, 920))
EVAL_SEEDS = tuple(range(600, 620))
"""Fresh evaluation seeds: no earlier attempt of any experiment was evaluated on them (results/ledger.json)."""


def stage_plans(stages: dict) -> None:
    comp = run_comparison(CompareConfig(ENV, {}, rows=("heuristic", f"simic=policy:{LEARNED}"), seeds=PLAN_SEEDS,
                                        scratch=False, workers=2, out=OUT / "plans",
                                        command="python benchmarks/ceiling.py --only plans"))
    for row in ("heuristic", "simic"):
        plan, played = modal_plan(comp.rows[row])
        budget = int(played[0].config["max_epochs"])
        stages[f"plan:{row}"] = f"{plan.describe(budget)} ({len(played)} of {len(comp.rows[row])} training episodes)"
        try:
            twin_schedule(plan, budget).save(OUT / f"twin-{row}.json")
        except ValueError as e:  # a plan that culls has no static twin
            stages[f"plan:{row}"] += f"; no twin: {e}"
    stages["episodes:plans"] = sum(len(r) for r in comp.rows.values())


def stage_tune(stages: dict) -> None:
    enqueue = tuple(str(p) for p in (TUNED, OUT / "twin-heuristic.json", OUT / "twin-simic.json") if p.is_file())
    for seed in SAMPLER_SEEDS:
        cfg = replace(TUNE, seed=seed, enqueue=enqueue, out=OUT / f"tune{seed}")
        best, score = tune(cfg)
        stages[f"tune{seed}"] = f"best mean validation accuracy {100 * score:.2f}% on training seeds: " + \
            json.dumps(best.to_json()["seeds"])
    stages["episodes:tune"] = len(SAMPLER_SEEDS) * TUNE.trials * len(TUNE.seeds)


def stage_validate(stages: dict) -> None:
    rows = (f"tuned=schedule:{TUNED}", *(f"search{s}=schedule:{OUT / f'tune{s}/best.json'}" for s in SAMPLER_SEEDS))
    comp = run_comparison(CompareConfig(ENV, {}, rows=rows, seeds=VALIDATION_SEEDS, scratch=False, workers=2,
                                        out=OUT / "validation",
                                        command="python benchmarks/ceiling.py --only validate"))
    chosen, means = pick(comp.rows, [r.split("=")[0] for r in rows])
    source = TUNED if chosen == "tuned" else OUT / f"tune{chosen[len('search'):]}/best.json"
    shutil.copyfile(source, OUT / "best.json")
    stages["chosen"] = f"{chosen} ({source}); mean final validation accuracy on validation seeds: " + \
        ", ".join(f"{k} {v:.2f}" for k, v in means.items())
    stages["episodes:validate"] = sum(len(r) for r in comp.rows.values())


def stage_evaluate(stages: dict) -> None:
    ledger.claim(ledger.Claim("ceiling", "1", ENV, EVAL_SEEDS))
    rows = ("no-growth", "heuristic", f"tuned=schedule:{TUNED}", f"ceiling=schedule:{OUT / 'best.json'}",
            f"simic=policy:{LEARNED}")
    comp = run_comparison(CompareConfig(ENV, {}, rows=rows, seeds=EVAL_SEEDS, scratch=False, workers=2,
                                        twins=("heuristic", "simic"), flops_matched=("ceiling",),
                                        out=OUT / "evaluate", command="python benchmarks/ceiling.py --only evaluate"))
    stages["episodes:evaluate"] = sum(len(r) for r in comp.rows.values())
    print(comp.table)


STAGES = {"plans": stage_plans, "tune": stage_tune, "validate": stage_validate, "evaluate": stage_evaluate}


def main(argv: list[str] | None = None) -> None:
    import os

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=list(STAGES), default=list(STAGES))
    args = p.parse_args(argv)
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "stages.json"
    stages = json.loads(path.read_text()) if path.is_file() else {}
    for name in args.only:
        t = time.perf_counter()
        STAGES[name](stages)
        stages[f"seconds:{name}"] = round(time.perf_counter() - t)
        with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(stages, f, indent=1)
        print(f"stage {name}: {stages[f'seconds:{name}']} s", flush=True)


if __name__ == "__main__":
    main()
