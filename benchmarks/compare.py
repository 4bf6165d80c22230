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

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from agents.seeds import DEMO_SEEDS
from lab.evaluation import Evaluation
from lab.options import parse_args

ROOT = Path(__file__).resolve().parents[1]

TUNED = "schedule:benchmarks/results/tuned/fast/best.json"
"""The static schedule esper tune found for Esper-Fast-v0 (300 training episodes)."""
LEARNED = "policy:benchmarks/results/simic2/attempt3/simic-val.zip"
"""The shipped learned Tamiyo: Simic v2's third attempt, the clone chosen on validation seeds."""
DEMO_ROWS = ("no-growth", "heuristic", f"tuned={TUNED}", f"simic={LEARNED}")
BUILT_IN = ("no-growth", "fixed", "heuristic", "random")
PRESETS = {
    # Esper-Fast-v0 episodes take ~7 s on one thread: 4 rows x 10 seeds on 2 workers is ~2.5 minutes, and 10
    # paired seeds separate every growing row from no-growth (growth is worth ~4-7 points there). The demo writes
    # to runs/ (not committed results), so it plays on a tree with local changes too.
    "demo": Evaluation("demo", "1", "fast", DEMO_SEEDS, DEMO_ROWS, Path("runs/demo"), allow_dirty=True),
    # Sizes chosen so each preset fits ~10-15 min on 2 CPU cores (one torch thread per worker).
    "synthetic": Evaluation("compare-presets", "1", "synthetic", (0, 1, 2, 3, 4), BUILT_IN,
                            Path("benchmarks/results/synthetic"), scratch=True),
    # The real subset (SETTINGS["cifar10-subset"]): 35 episodes fit in ~15 minutes here.
    "cifar-subset": Evaluation("compare-presets", "1", "subset", (0, 1, 2, 3, 4), BUILT_IN,
                               Path("benchmarks/results/cifar-subset"), scratch=True),
}


@dataclass
class Args:
    preset: str = field(default="demo", metadata={"choices": sorted(PRESETS)})
    """Which evaluation to run: demo (make demo), synthetic or cifar-subset."""
    seeds: tuple[int, ...] | None = None
    """Play these seeds instead of the preset's (claimed in the ledger as more seeds of the same attempt)."""
    workers: int | None = None
    """Worker processes (the preset's: 2)."""
    out: str | None = None
    """Write the comparison here instead of the preset's folder."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (their diff's hash is recorded)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    ev = PRESETS[args.preset]
    ev = replace(ev, command=" ".join(["python benchmarks/compare.py", *(sys.argv[1:] if argv is None else argv)]),
                 seeds=tuple(args.seeds or ev.seeds), workers=args.workers or ev.workers,
                 out=Path(args.out).resolve() if args.out else ev.out,  # as the user meant it, before moving
                 allow_dirty=ev.allow_dirty or args.allow_dirty)
    os.chdir(ROOT)
    comp = ev.run()
    print(comp.table)
    print(f"outputs in {ev.out}")


if __name__ == "__main__":
    main()
