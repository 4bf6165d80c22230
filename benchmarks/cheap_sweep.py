"""Sizing a cheap task family where networks actually learn (the portable-spaces issue, item 4).

For each candidate config it runs, with ``esper compare`` (paired seeds, one torch thread per worker):
no-growth, heuristic and fixed, and the bare host 4x wider (``width=4``, no-growth). It prints and writes one
line per candidate: no-growth test accuracy, heuristic and fixed minus no-growth, 4x wide minus no-growth
(paired 95% CIs), and seconds per episode. The targets: no-growth >= 50%, an episode <= 10 s on 2 cores,
4x wide >= 5 points above the host with a CI excluding 0.

    python benchmarks/cheap_sweep.py                         # seeds 0-4 -> benchmarks/results/cheap-family/
    python benchmarks/cheap_sweep.py --seeds 5 6 7 8 9 --candidates tiny16 --out-name confirm.md
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from esper_env.config import SUBSET_SIZES
from esper_env.fileio import atomic_path
from lab.compare import mean_ci, paired, test_points
from lab.compare.stats import fmt_ci
from lab.evaluation import Evaluation, Setting
from lab.options import parse_args
from lab.settings import SUBSET_ROOT

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("benchmarks/results/cheap-family")

# The candidates, in one place: the real CIFAR-10 subset (or the offline dataset) downsampled to 16x16.
REAL = dict(SUBSET_SIZES, data_root=SUBSET_ROOT, image_size=16, blend_epochs=2, embargo_epochs=1,
            eval_batch_size=250)
CANDIDATES = {
    "tiny16": dict(REAL, host="tiny", max_epochs=16),
    "tiny16-24ep": dict(REAL, host="tiny", max_epochs=24),
    "small16": dict(REAL, host="small", max_epochs=12),
    "synthetic-small16": dict(dataset="synthetic", train_size=4000, val_size=1000, test_size=1000, image_size=16,
                              host="small", max_epochs=15, blend_epochs=2, embargo_epochs=1, eval_batch_size=250),
}


def fmt(ci) -> str:
    return fmt_ci(*ci, signed=True)


def sweep(name: str, overrides: dict, seeds: tuple[int, ...], workers: int, folder: str,
          allow_dirty: bool = False) -> str:
    env_id = "Esper-CIFAR10-v0" if overrides["dataset"] == "cifar10" else "Esper-Synthetic-v0"
    where = Setting(env_id, overrides, f"{env_id} {name}", f"cheap-family candidate {name}")
    base = Evaluation("cheap-sweep", "1", where, seeds, ("no-growth", "heuristic", "fixed"), OUT / folder,
                      workers=workers, allow_dirty=allow_dirty)
    comp = base.run(progress=False)  # claims the candidate's seeds first
    wide = dataclasses.replace(base, rows=("no-growth",), out=OUT / f"{folder}-wide4",
                               overrides={"width": 4.0}).run(progress=False)
    rows = dict(comp.rows, wide4=wide.rows["no-growth"])
    walls = [r.wall_s for rs in comp.rows.values() for r in rs]
    return (f"| {name} | {mean_ci(test_points(r) for r in rows['no-growth'])[0]:.2f} | "
            f"{fmt(paired(rows, 'heuristic', 'no-growth', test_points))} | "
            f"{fmt(paired(rows, 'fixed', 'no-growth', test_points))} | "
            f"{fmt(paired(rows, 'wide4', 'no-growth', test_points))} | "
            f"{sum(walls) / len(walls):.1f} / {max(walls):.1f} |")


@dataclass
class Args:
    candidates: tuple[str, ...] = field(default=tuple(sorted(CANDIDATES)), metadata={"choices": sorted(CANDIDATES)})
    """The candidate configs to size."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Evaluation seeds (claimed per candidate in the ledger)."""
    workers: int = 2
    """Worker processes."""
    out_name: str = "sweep.md"
    """Table file in benchmarks/results/cheap-family/ (other than sweep.md: runs go to <candidate>-<name>/)."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (their diff's hash is recorded)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)  # results record paths relative to the repository
    head = ("| candidate | no-growth test % | heuristic − no-growth | fixed − no-growth | 4× wide − no-growth | "
            "s / episode (mean / max, 2 at once) |\n|---|---|---|---|---|---|")
    lines = [head]
    for name in args.candidates:
        folder = name + ("" if args.out_name == "sweep.md" else "-" + Path(args.out_name).stem)
        lines.append(sweep(name, CANDIDATES[name], tuple(args.seeds), args.workers, folder, args.allow_dirty))
        print(lines[-1], flush=True)
    text = (f"# Cheap task family: candidates\n\nCommand: `python benchmarks/cheap_sweep.py {' '.join(sys.argv[1:])}`"
            f"\n\nSeeds {list(args.seeds)}; paired differences in test-accuracy points with Student-t 95% CIs.\n\n"
            + "\n".join(lines) + "\n\nConfigs:\n\n" + "\n".join(f"* {n}: `{CANDIDATES[n]}`" for n in args.candidates)
            + "\n")
    with atomic_path(OUT / args.out_name, suffix=".md") as tmp, open(tmp, "w") as f:
        f.write(text)
    print(f"-> {OUT / args.out_name}")


if __name__ == "__main__":
    main()
