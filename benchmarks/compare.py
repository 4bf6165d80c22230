"""The comparison benchmark with named, documented settings; the same function as `esper compare`.

    python benchmarks/compare.py --preset demo            # what `make demo` runs (offline, 10 seeds, ~2.5 min)
    python benchmarks/compare.py --preset synthetic       # offline, 5 seeds -> benchmarks/results/synthetic
    python benchmarks/compare.py --preset cifar-subset    # real images, 5 seeds -> benchmarks/results/cifar-subset

The demo compares what a user comes for: not growing, the hand-written Tamiyo (heuristic), the tuned static
schedule and the shipped learned Tamiyo (Simic v2), on Esper-Fast-v0, paired by seed. The other presets run
the built-in rows (no-growth, fixed, heuristic, random, and each growing controller's final architecture from
scratch). ``--seeds``, ``--workers`` and ``--out`` override the preset.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agents.seeds import DEMO_SEEDS
from lab.compare import CompareConfig, run_comparison
from lab.settings import subset_overrides

ROOT = Path(__file__).resolve().parents[1]

# Sizes chosen so each preset fits its time on 2 CPU cores (one torch thread per worker):
# demo <= 3 min; synthetic and cifar-subset ~10-15 min each.
OFFLINE = dict(train_size=4000, val_size=1000, test_size=2000, max_epochs=15)
TUNED = "schedule:benchmarks/results/tuned/fast/best.json"
"""The static schedule esper tune found for Esper-Fast-v0 (300 training episodes)."""
LEARNED = "policy:benchmarks/results/simic2/attempt3/simic-val.zip"
"""The shipped learned Tamiyo: Simic v2's third attempt, the clone chosen on validation seeds."""
DEMO_ROWS = ("no-growth", "heuristic", f"tuned={TUNED}", f"simic={LEARNED}")
PRESETS = {
    # Esper-Fast-v0 episodes take ~7 s on one thread: 4 rows x 10 seeds on 2 workers is ~2.5 minutes, and 10
    # paired seeds separate every growing row from no-growth (growth is worth ~4-7 points there).
    "demo": CompareConfig("Esper-Fast-v0", {}, rows=DEMO_ROWS, seeds=DEMO_SEEDS, scratch=False,
                          out=Path("runs/demo"), workers=2),
    "synthetic": CompareConfig("Esper-Synthetic-v0", OFFLINE, seeds=(0, 1, 2, 3, 4),
                               out=Path("benchmarks/results/synthetic"), workers=2),
    # The real subset (SETTINGS["cifar10-subset"]): 35 episodes fit in ~15 minutes here.
    "cifar-subset": CompareConfig("Esper-CIFAR10-v0", subset_overrides(),
                                  seeds=(0, 1, 2, 3, 4), out=Path("benchmarks/results/cifar-subset"), workers=2),
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    cfg = PRESETS[args.preset]
    cfg.command = " ".join(["python benchmarks/compare.py", *sys.argv[1:]])
    if args.seeds:
        cfg.seeds = tuple(args.seeds)
    if args.workers:
        cfg.workers = args.workers
    if args.out:
        cfg.out = Path(args.out).resolve()  # as the user meant it, before moving to the repository
    os.chdir(ROOT)
    comp = run_comparison(cfg)
    print(comp.table)
    print(f"outputs in {cfg.out}")


if __name__ == "__main__":
    main()
