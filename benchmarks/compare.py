"""The comparison benchmark with named, documented settings; the same function as `esper compare`.

    python benchmarks/compare.py --preset demo            # what `make demo` runs (offline, 2 x 6 seeds, ~3 min)
    python benchmarks/compare.py --preset synthetic       # offline, 5 seeds -> benchmarks/results/synthetic
    python benchmarks/compare.py --preset cifar-subset    # real images, 5 seeds -> benchmarks/results/cifar-subset

The demo compares what a user comes for, paired by seed, on a stationary task and on one with a hidden event: not
growing, the hand-written Tamiyo (heuristic), the reactive heuristic, the best plan written in advance and the
shipped learned Tamiyo (Simic v4), on Esper-Fast-v0 and on Esper-Faulty-v0 (seeds that can fail; there the best
plan written in advance is not growing). The other presets run
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

CEILING = "schedule:benchmarks/results/ceiling/fast/best.json"
"""The best plan written in advance on Esper-Fast-v0 (the static ceiling: two conv_residual seeds, epochs 0 and 3)."""
LEARNED = "policy:benchmarks/results/simic4/simic.zip"
"""The shipped learned Tamiyo: Simic v4, the clone with the best validation accuracy among every evaluated attempt's
picks (attempt 4's replicate b: benchmarks/results/simic4/attempt4/picks.json)."""
DEMO_ROWS = {"fast": ("no-growth", "heuristic", "reactive", f"best-static={CEILING}", f"simic={LEARNED}"),
             "faulty": ("no-growth", "heuristic", "reactive", f"simic={LEARNED}")}
"""Per demo setting: its rows (on Esper-Faulty-v0 no growth *is* the best plan written in advance)."""
BUILT_IN = ("no-growth", "fixed", "heuristic", "random")
PRESETS = {
    # Fast-cost episodes take ~5-7 s on one thread: 9 rows x 6 seeds on 2 workers is ~3 minutes, and 6 paired seeds
    # separate growth from no growth on Fast (~5-7 points). The demo writes to runs/ (not committed results), so it
    # plays on a tree with local changes too.
    "demo": tuple(Evaluation("demo", "4", where, DEMO_SEEDS, rows, Path("runs/demo") / where, allow_dirty=True)
                  for where, rows in DEMO_ROWS.items()),
    # Sizes chosen so each preset fits ~10-15 min on 2 CPU cores (one torch thread per worker).
    "synthetic": (Evaluation("compare-presets", "1", "synthetic", (0, 1, 2, 3, 4), BUILT_IN,
                             Path("benchmarks/results/synthetic"), scratch=True),),
    # The real subset (SETTINGS["cifar10-subset"]): 35 episodes fit in ~15 minutes here.
    "cifar-subset": (Evaluation("compare-presets", "1", "subset", (0, 1, 2, 3, 4), BUILT_IN,
                                Path("benchmarks/results/cifar-subset"), scratch=True),),
}
"""Each preset's evaluations (the demo: one per setting, printed one after the other)."""


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
    from esper_env.fileio import atomic_path
    from lab.evaluation import setting

    args = parse_args(Args, argv, __doc__)
    evs = PRESETS[args.preset]
    command = " ".join(["python benchmarks/compare.py", *(sys.argv[1:] if argv is None else argv)])
    out = Path(args.out).resolve() if args.out else None  # as the user meant it, before moving
    evs = [replace(ev, command=command, seeds=tuple(args.seeds or ev.seeds), workers=args.workers or ev.workers,
                   out=(out / ev.out.name if len(evs) > 1 else out) if out else ev.out,
                   allow_dirty=ev.allow_dirty or args.allow_dirty) for ev in evs]
    os.chdir(ROOT)
    tables = []
    for ev in evs:
        comp = ev.run()
        tables.append(comp.table if len(evs) == 1 else f"### `{setting(ev.where).env_id}`\n\n{comp.table}")
    text = "\n\n".join(tables)
    print(text)
    if len(evs) > 1:  # the preset's tables together, as the README shows them
        folder = evs[0].out.parent
        with atomic_path(folder / "table.md", suffix=".md") as tmp:
            Path(tmp).write_text(text + "\n")
        print(f"outputs in {folder}")
    else:
        print(f"outputs in {evs[0].out}")


if __name__ == "__main__":
    main()
