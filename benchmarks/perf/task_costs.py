"""Episode cost across the task distribution of ``Esper-Mixed-v0`` (the portable-spaces issue).

Draws tasks from a distribution (default ``cheap``: the synthetic families and the real CIFAR-10 subset at
16x16), plays one heuristic episode of each, one at a time with the process's torch threads (2 on a 2-core
machine), and writes a table of wall seconds per episode -- mean, 90th percentile and max -- per family and
split, plus each task's line. The first episode of a task also loads (or generates) its data; that time is
reported apart (``data s``) and not counted in the episode's seconds.

    python benchmarks/perf/task_costs.py                                  # -> benchmarks/results/mixed/costs.md
    python benchmarks/perf/task_costs.py --train-seeds 1000 1024 --heldout-seeds 0 8
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import esper_env  # noqa: F401 (registers the ids)
from agents import HeuristicTamiyo, run_episode
from esper_env.fileio import atomic_path
from esper_env.mixed import MixedEsperEnv
from lab.records import run_metadata
from lab.settings import SUBSET_ROOT

OUT = Path("benchmarks/results/mixed/costs.md")


def stats(xs: list[float]) -> str:
    return f"{np.mean(xs):.1f} | {np.percentile(xs, 90):.1f} | {max(xs):.1f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="cheap", help="task distribution name (default cheap)")
    p.add_argument("--data-root", default=SUBSET_ROOT,
                   help=f"CIFAR-10 subset for real-data families (default {SUBSET_ROOT})")
    p.add_argument("--train-seeds", type=int, nargs=2, default=(1000, 1024), metavar=("LOW", "HIGH"))
    p.add_argument("--heldout-seeds", type=int, nargs=2, default=(0, 8), metavar=("LOW", "HIGH"))
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    rows, by_group = [], defaultdict(list)
    for split, (lo, hi) in (("train", args.train_seeds), ("heldout", args.heldout_seeds)):
        env = MixedEsperEnv(tasks=args.tasks, split=split, data_root=args.data_root)
        for seed in range(lo, hi):
            task = env.draw(seed)
            t0 = time.perf_counter()
            env._env_for(task)  # the task's data: loaded or generated once, then kept
            data_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            record = run_episode(env, HeuristicTamiyo(), seed=seed)
            wall = time.perf_counter() - t0
            family = env.tasks.family_of(seed)
            by_group[family, split].append(wall)
            by_group["all", split].append(wall)
            rows.append(f"| {split} | {seed} | {family} | {task.host} x{task.width:g} | {task.train_size} | "
                        f"{task.image_size} | {task.max_epochs} | {task.slots} | {data_s:.1f} | {wall:.1f} | "
                        f"{100 * record.outcome.test_accuracy:.1f} |")
            print(rows[-1], flush=True)
    meta = run_metadata()
    lines = [
        "# Episode cost across the task distribution",
        "",
        f"Command: `python benchmarks/perf/task_costs.py --tasks {args.tasks} --train-seeds {args.train_seeds[0]} "
        f"{args.train_seeds[1]} --heldout-seeds {args.heldout_seeds[0]} {args.heldout_seeds[1]}`",
        "",
        f"Machine: {meta['machine']}; torch {meta['torch']}, {torch.get_num_threads()} threads, one episode at a "
        f"time; {meta['date']}. Heuristic controller. Seconds per episode (data loading excluded).",
        "",
        "| family | split | episodes | mean s | p90 s | max s |",
        "|---|---|---|---|---|---|",
        *[f"| {fam} | {split} | {len(xs)} | {stats(xs)} |" for (fam, split), xs in sorted(by_group.items())],
        "",
        "| split | seed | family | host | train images | image px | epochs | slots | data s | episode s | test % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out, suffix=".md") as tmp:
        Path(tmp).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
