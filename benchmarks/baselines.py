"""The baselines a learned controller must beat, on held-out seeds (the baselines issue).

Rows: no-growth, fixed, heuristic, ``tuned`` (the schedule ``esper tune`` found on training seeds), the
committed Simic policies where their observations fit the env, each growing row's scratch row, and
compute-matched rows (``no-growth@flops:`` and ``wide@flops:``) for the heuristic and the tuned schedule.

    esper tune --env Esper-Fast-v0 --trials 60 --seeds 1000 1001 1002 1003 1004 --workers 2 \\
        --out benchmarks/results/tuned/fast                       # first: the tuned schedules
    esper tune --env Esper-Mixed-v0 --trials 30 --seeds 1000 ... 1009 --workers 2 \\
        --out benchmarks/results/tuned/mixed --set tasks=cheap --set data_root=../shared/data/cifar10-subset
    python benchmarks/baselines.py --preset fast                  # 20 held-out seeds of Esper-Fast-v0
    python benchmarks/baselines.py --preset cifar-subset          # the real subset, 5 seeds
    python benchmarks/baselines.py --preset mixed                 # 20 seeds of the held-out task distribution
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lab import ledger
from lab.compare import CompareConfig, run_comparison
from lab.settings import SUBSET_ROOT, subset_overrides

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
TUNED = RESULTS / "tuned/fast/best.json"
TUNED_MIXED = RESULTS / "tuned/mixed/best.json"
SIMIC = RESULTS / "simic"

# Everything in one place. Evaluation seeds are below 900 and were never used to tune or train anything.
PRESETS = {
    "fast": CompareConfig(
        "Esper-Fast-v0", {}, seeds=tuple(range(20)), workers=2, out=RESULTS / "baselines/fast",
        rows=("no-growth", "fixed", "heuristic", f"tuned=schedule:{TUNED}", f"bc=policy:{SIMIC / 'bc.zip'}",
              f"ppo=policy:{SIMIC / 'ppo/final.zip'}", f"ppo2=policy:{SIMIC / 'ppo2/final.zip'}"),
        flops_matched=("heuristic", "tuned")),
    # The real-subset evaluation (SETTINGS["cifar10-subset"]). The Simic policies were trained on Esper-Fast-v0
    # and act here through the common layout.
    "cifar-subset": CompareConfig(
        "Esper-CIFAR10-v0", subset_overrides(),
        seeds=(0, 1, 2, 3, 4), workers=2, out=RESULTS / "baselines/cifar-subset", scratch=False,
        rows=("no-growth", "fixed", "heuristic", f"tuned=schedule:{TUNED}", f"tuned-mixed=schedule:{TUNED_MIXED}",
              f"bc=policy:{SIMIC / 'bc.zip'}", f"ppo=policy:{SIMIC / 'ppo/final.zip'}",
              f"ppo2=policy:{SIMIC / 'ppo2/final.zip'}"), flops_matched=("heuristic", "tuned")),
    # The held-out part of the cheap task distribution (datasets and sizes no training draw produces).
    "mixed": CompareConfig(
        "Esper-Mixed-v0", dict(tasks="cheap", split="heldout", data_root=SUBSET_ROOT), seeds=tuple(range(20)),
        workers=2,
        out=RESULTS / "baselines/mixed",
        rows=("no-growth", "fixed", "heuristic", f"tuned=schedule:{TUNED}", f"tuned-mixed=schedule:{TUNED_MIXED}",
              f"bc=policy:{SIMIC / 'bc.zip'}", f"ppo=policy:{SIMIC / 'ppo/final.zip'}",
              f"ppo2=policy:{SIMIC / 'ppo2/final.zip'}"), flops_matched=("heuristic", "tuned-mixed")),
}


LEDGER_ENVS = {"fast": "Esper-Fast-v0", "cifar-subset": "Esper-CIFAR10-v0 cifar10-subset",
               "mixed": "Esper-Mixed-v0 cheap heldout"}
"""How each preset's evaluation is named in benchmarks/results/ledger.json."""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="fast")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="override the preset's seeds")
    args = p.parse_args(argv)
    os.chdir(ROOT)  # the rows name files relative to the repository
    cfg = PRESETS[args.preset]
    cfg.command = " ".join(["python benchmarks/baselines.py", *sys.argv[1:]])
    if args.seeds:
        cfg.seeds = tuple(args.seeds)
    ledger.claim(ledger.Claim("baselines", "1", LEDGER_ENVS[args.preset], cfg.seeds))  # a rerun, or fresh seeds
    comp = run_comparison(cfg)
    print(comp.table)
    print(f"outputs in {cfg.out}")


if __name__ == "__main__":
    main()
