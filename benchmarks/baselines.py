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

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from lab.evaluation import Evaluation, setting
from lab.options import parse_args

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
TUNED = RESULTS / "tuned/fast/best.json"
TUNED_MIXED = RESULTS / "tuned/mixed/best.json"
SIMIC = RESULTS / "simic"
POLICIES = (f"bc=policy:{SIMIC / 'bc.zip'}", f"ppo=policy:{SIMIC / 'ppo/final.zip'}",
            f"ppo2=policy:{SIMIC / 'ppo2/final.zip'}")
BASE = ("no-growth", "fixed", "heuristic", f"tuned=schedule:{TUNED}")

# Everything in one place. Evaluation seeds are below 900 and were never used to tune or train anything.
PRESETS = {
    "fast": Evaluation("baselines", "1", "fast", tuple(range(20)), (*BASE, *POLICIES), RESULTS / "baselines/fast",
                       scratch=True, flops_matched=("heuristic", "tuned")),
    # The real-subset evaluation (SETTINGS["cifar10-subset"]). The Simic policies were trained on Esper-Fast-v0
    # and act here through the common layout.
    "cifar-subset": Evaluation("baselines", "1", "subset", (0, 1, 2, 3, 4),
                               (*BASE, f"tuned-mixed=schedule:{TUNED_MIXED}", *POLICIES),
                               RESULTS / "baselines/cifar-subset", flops_matched=("heuristic", "tuned")),
    # The held-out part of the cheap task distribution (datasets and sizes no training draw produces).
    "mixed": Evaluation("baselines", "1", "mixed-heldout", tuple(range(20)),
                        (*BASE, f"tuned-mixed=schedule:{TUNED_MIXED}", *POLICIES), RESULTS / "baselines/mixed",
                        scratch=True, flops_matched=("heuristic", "tuned-mixed")),
}

LEDGER_ENVS = {name: setting(ev.where).ledger_env for name, ev in PRESETS.items()}
"""How each preset's evaluation is named in benchmarks/results/ledger.json."""


@dataclass
class Args:
    preset: str = field(default="fast", metadata={"choices": sorted(PRESETS)})
    """Which evaluation: fast, cifar-subset or mixed."""
    seeds: tuple[int, ...] | None = None
    """Override the preset's seeds (claimed as more seeds of the same attempt)."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (their diff's hash is recorded)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)  # the rows name files relative to the repository
    ev = replace(PRESETS[args.preset], seeds=tuple(args.seeds or PRESETS[args.preset].seeds),
                 command=" ".join(["python benchmarks/baselines.py", *(sys.argv[1:] if argv is None else argv)]),
                 allow_dirty=args.allow_dirty)
    comp = ev.run()  # claims the seeds first: a rerun, or fresh seeds
    print(comp.table)
    print(f"outputs in {ev.out}")


if __name__ == "__main__":
    main()
