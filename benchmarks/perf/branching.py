"""Branching throughput and the scaling of ``esper improve`` from 1 to 2 worker processes (issue 28).

    python benchmarks/perf/branching.py [--env Esper-Fast-v0] [--seeds 1000 1001 1002 1003] [--stride 4]

Labels the same training seeds twice with the improved teacher (``agents.simic.branch.improve``): once with one
worker process, once with two (fresh output files under a temporary folder, so nothing is cached), checks that
the two files hold the same labels, and prints the wall time of each, the speed-up (target >= 1.8x on 2
cores) and the branch epochs per second per core. Run it on an otherwise idle machine. The snapshot/restore
share of a branch is printed by ``benchmarks/truncation.py`` (it times them inside every branch).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from agents.simic.branch import ImproveConfig, improve
from esper_env.training import resolve_precision
from lab.records import run_metadata


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="Esper-Fast-v0")
    p.add_argument("--seeds", nargs="+", type=int, default=[1000, 1001, 1002, 1003])
    p.add_argument("--stride", type=int, default=4)
    args = p.parse_args(argv)
    import torch

    m = run_metadata()
    print(f"# Branching, {m['machine']}, {m['isa']} kernels, auto precision = "
          f"{resolve_precision('auto', torch.device('cpu'))}, torch {m['torch']}, {m['date']}")
    print(f"esper improve --env {args.env} --seeds {' '.join(map(str, args.seeds))} --stride {args.stride} "
          "(heuristic behaviour and rollout, the defaults otherwise)\n")
    walls, files = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            cfg = ImproveConfig(args.env, seeds=tuple(args.seeds), stride=args.stride, workers=workers,
                                out=Path(tmp) / f"w{workers}.npz")
            start = time.perf_counter()
            demos = improve(cfg, progress=False)
            walls[workers] = time.perf_counter() - start
            files[workers] = demos
            epochs = sum(b["epochs"] for b in demos.meta["budget"].values())
            print(f"{workers} worker(s): {walls[workers]:.1f} s, {epochs} branch epochs, "
                  f"{epochs / walls[workers] / workers:.2f} branch epochs/s per core")
    same = all(np.array_equal(files[1].episodes[s].teacher, files[2].episodes[s].teacher) for s in args.seeds)
    print(f"\nspeed-up 1 -> 2 workers: {walls[1] / walls[2]:.2f}x (target >= 1.8x); labels identical: {same}")


if __name__ == "__main__":
    main()
