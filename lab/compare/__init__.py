"""The comparison benchmark: every controller on every seed, epoch-matched and paired, with 95% CIs.

Each run is one episode of the same env config. The same seed gives every row the same split, host
initialisation and data order, so differences between rows are paired by seed. Rows:

* the controllers asked for (``no-growth``, ``fixed``, ``heuristic``, ``random``, ``policy:PATH.zip``), each
  optionally named ``NAME=CONTROLLER`` (e.g. ``ppo=policy:runs/ppo/final.zip``: the table says ``ppo``);
* for each growing controller, ``scratch:<controller>``: its final architecture (every seed at alpha 1 at
  the end: fossilized, or blended to alpha 1) built fossilized from the start and trained for the same epochs
  with the same seed -- the comparison growth papers make.

Runs go to worker processes with one torch thread each (``workers`` of them, or a Ray cluster); every
run happens in a worker, so results do not depend on how many there are. Each finished run is written
atomically to ``<out>/runs/<key>.json``, keyed by (config, controller, seed, starting architecture), so an
interrupted or extended benchmark resumes where it stopped.

Modules: :mod:`.plan` (config, runs, cache keys), :mod:`.execute` (workers and the cache), :mod:`.stats`
(intervals), :mod:`.report` (table, files, figures); this one runs them in order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..records import RunRecord
from .execute import Executor, run_one
from .plan import (
    BUILTIN_GROWING,
    DEFAULT_ROWS,
    DEFAULT_SEEDS,
    SCRATCH,
    TWIN,
    CompareConfig,
    RunSpec,
    final_architecture,
    flops_matched_specs,
    is_growing,
    plan,
    scratch_specs,
    split_row,
    twin_specs,
)
from .report import markdown_table, write_outputs
from .stats import mean_ci, paired, test_points

__all__ = ["BUILTIN_GROWING", "CompareConfig", "Comparison", "DEFAULT_ROWS", "DEFAULT_SEEDS", "Executor", "RunSpec",
           "SCRATCH", "TWIN", "final_architecture", "flops_matched_specs", "is_growing", "markdown_table", "mean_ci",
           "paired", "plan", "run_comparison", "run_one", "scratch_specs", "split_row", "test_points", "twin_specs",
           "write_outputs"]


@dataclass
class Comparison:
    """Every run's record, by row, in seed order."""

    config: CompareConfig
    rows: dict[str, list[RunRecord]]
    table: str = ""
    failed: list[str] = field(default_factory=list)
    """Runs whose worker process died even alone ("row, seed N: why"); left out of the table."""


def run_comparison(cfg: CompareConfig, progress: bool = True) -> Comparison:
    """Run (or load from the cache) every run, then write runs.jsonl, table.md and the figures."""
    from tqdm import tqdm

    cfg.check()
    cfg.out = Path(cfg.out)
    first = plan(cfg)
    growing = sum(1 for s in first if is_growing(s.agent))
    matched = 2 * sum(1 for s in first if s.row in cfg.flops_matched)
    bar = tqdm(total=len(first) + (growing if cfg.scratch else 0) + matched, unit="run", disable=not progress,
               desc="compare")
    try:
        ex = Executor(cfg.out, cfg.workers, cfg.executor, progress=bar.update)
        results = ex.run(first)
        specs = list(first)
        if cfg.twins:
            twins = twin_specs(cfg, results)
            bar.total += len(twins)
            results.update(ex.run(twins))
            specs += twins
        if cfg.scratch:
            second = scratch_specs(cfg, results)
            results.update(ex.run(second))
            specs += second
        if cfg.flops_matched:
            third = flops_matched_specs(cfg, results)
            results.update(ex.run(third))
            specs += third
    finally:
        bar.close()
    rows: dict[str, list[RunRecord]] = {}
    for spec in specs:
        if spec.key in results:
            rows.setdefault(spec.row, []).append(dataclasses.replace(results[spec.key], row=spec.row))
    comp = Comparison(cfg, rows, failed=[f"{s.row}, seed {s.seed}: {why}" for s, why in ex.failed])
    comp.table = markdown_table(comp)
    if comp.failed:
        comp.table += "\n\nFailed runs (not in the table; a rerun tries them again):\n" + "\n".join(
            f"- {f}" for f in comp.failed)
    write_outputs(comp)
    return comp
