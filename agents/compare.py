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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from esper_env.config import EsperConfig, make_config
from esper_env.fileio import atomic_path

from .parallel import WorkerDied, run_tasks

SCRATCH = "scratch:"
BUILTIN_GROWING = ("fixed", "heuristic", "random")
DEFAULT_ROWS = ("no-growth", "fixed", "heuristic", "random")
DEFAULT_SEEDS = (0, 1, 2)
"""Evaluation seeds. Learned policies train on seeds from 1000 up (README: "Seeds"), so these never overlap."""


ROW_NAME = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


def split_row(row: str) -> tuple[str, str]:
    """``NAME=CONTROLLER`` -> (NAME, CONTROLLER); a bare controller is its own name."""
    m = ROW_NAME.match(row)
    return (m.group(1), m.group(2)) if m else (row, row)


def is_growing(agent: str) -> bool:
    return agent in BUILTIN_GROWING or agent.startswith("policy:")


NO_EFFECT = ("threads",)
"""Config fields that do not change a run's result, left out of the cache key."""


@dataclass(frozen=True)
class RunSpec:
    """One episode to run: a controller on one seed, optionally from a fossilized starting architecture."""

    env_id: str
    config: dict
    """The full :class:`EsperConfig` as a dict."""
    agent: str
    seed: int
    fossilized: tuple[tuple[int, str], ...] = ()
    row: str = ""
    """The table row this run belongs to."""

    @property
    def key(self) -> str:
        """Cache key: what determines the result (a policy by its file's hash), not the row's name."""
        agent = self.agent
        if agent.startswith("policy:"):
            agent = "policy:" + hashlib.sha256(Path(agent[7:]).read_bytes()).hexdigest()[:16]
        config = {k: v for k, v in self.config.items() if k not in NO_EFFECT}
        blob = json.dumps([self.env_id, config, agent, self.seed, [list(f) for f in self.fossilized]],
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def run_one(spec: RunSpec) -> dict:
    """Play ``spec`` in this process with one torch thread; the result record (JSON-able)."""
    import gymnasium as gym
    import torch

    import esper_env  # noqa: F401 (registers the ids)

    from . import make_agent, run_episode
    from .parallel import maybe_crash
    from .records import episode_result

    maybe_crash(f"{spec.row}:{spec.seed}")
    torch.set_num_threads(1)
    env = gym.make(spec.env_id, config=spec.config)
    agent = make_agent(spec.agent, schema=env.unwrapped.schema)
    start = time.perf_counter()
    record = run_episode(env, agent, seed=spec.seed,
                         options={"fossilized": dict(spec.fossilized)} if spec.fossilized else None)
    wall = time.perf_counter() - start
    return episode_result(record, env.unwrapped.config, env_id=spec.env_id, row=spec.row, key=spec.key,
                          fossilized=[list(f) for f in spec.fossilized], wall_s=wall,
                          actions=[s.command for s in record.steps])


ALPHA_ONE = 1.0 - 1e-6
"""A blend that ended within float round-off of alpha 1 (the per-batch ramp sums fractions) counts as done."""


def final_architecture(result: dict) -> tuple[tuple[int, str], ...]:
    """Seeds at alpha 1 at the end of a run: fossilized, or fully blended but not yet fossilized."""
    o = result["outcome"]
    seeds = [tuple(a) for a in o["architecture"]] + [(s["slot"], s["blueprint"]) for s in o["live_seeds"]
                                                     if s["alpha"] >= ALPHA_ONE]
    return tuple(sorted((int(k), str(b)) for k, b in seeds))


# --------------------------------------------------------------------------------------------------
# Execution: cached, parallel, interruptible
# --------------------------------------------------------------------------------------------------

class Executor:
    """Runs specs, skipping those already on disk, writing each finished run as soon as it is done."""

    def __init__(self, out: Path, workers: int = 1, executor: str = "process",
                 progress: Callable[[int], Any] | None = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if executor not in ("process", "ray"):
            raise ValueError(f"executor must be 'process' or 'ray', got {executor!r}")
        self.runs = out / "runs"
        self.workers, self.executor, self.progress = workers, executor, progress
        self.failed: list[tuple[RunSpec, str]] = []
        """Runs whose worker process died even when they ran alone (not cached: a rerun tries them again)."""

    def path(self, spec: RunSpec) -> Path:
        return self.runs / f"{spec.key}.json"

    def cached(self, spec: RunSpec) -> dict | None:
        try:
            return json.loads(self.path(spec).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _save(self, spec: RunSpec, result: dict) -> None:
        with atomic_path(self.path(spec), suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(result, f)

    def run(self, specs: Iterable[RunSpec]) -> dict[str, dict]:
        results: dict[str, dict] = {}
        todo: dict[str, RunSpec] = {}
        for spec in specs:
            hit = self.cached(spec)
            if hit is not None:
                results[spec.key] = hit
                self._tick()
            elif spec.key not in todo:
                todo[spec.key] = spec
        if todo:
            run = self._ray if self.executor == "ray" else self._processes
            for spec, result in run(list(todo.values())):
                if isinstance(result, WorkerDied):
                    self.failed.append((spec, result.message))
                else:
                    self._save(spec, result)
                    results[spec.key] = result
                self._tick()
        return results

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(1)

    def _processes(self, specs: list[RunSpec]):
        # Each run sets one torch thread itself (run_one), so results do not depend on the worker count.
        # A worker that dies is retried, then isolated (agents.parallel); finished runs are on disk already.
        yield from run_tasks(run_one, specs, self.workers)

    def _ray(self, specs: list[RunSpec]):
        try:
            import ray
        except ImportError:
            raise RuntimeError("--executor ray needs Ray: pip install -c constraints.txt -e '.[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"), num_cpus=None if os.environ.get("RAY_ADDRESS")
                     else self.workers, include_dashboard=False, log_to_driver=False)
        remote = ray.remote(num_cpus=1)(run_one)
        pending = {remote.remote(s): s for s in specs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                yield spec, ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref)


# --------------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------------

@dataclass
class CompareConfig:
    """What to compare. Every run uses the same env config; rows differ only in the controller."""

    env_id: str = "Esper-Synthetic-v0"
    """Registered env id."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced for every run (e.g. train_size, max_epochs, data_root)."""
    rows: tuple[str, ...] = DEFAULT_ROWS
    """Controllers: built-in names or policy:PATH.zip."""
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    """Evaluation seeds (paired across rows)."""
    scratch: bool = True
    """Add a scratch:<row> for each growing controller (its final architecture trained from the start)."""
    out: Path = Path("runs/compare")
    """Output folder: runs/ (one JSON per run, the cache), runs.jsonl, table.md, curves.png, flops.png."""
    workers: int = 1
    """Worker processes (one torch thread each); results do not depend on the number."""
    executor: str = "process"
    """"process" (local worker processes) or "ray" (a Ray cluster: $RAY_ADDRESS, or a local one)."""
    command: str = ""
    """The command line that ran it, recorded in table.md."""

    def env_config(self) -> EsperConfig:
        import esper_env

        if self.env_id not in esper_env.PRESET_OF:
            raise ValueError(f"unknown env id {self.env_id!r}; choose one of {', '.join(esper_env.ENV_IDS)}")
        return make_config(esper_env.PRESET_OF[self.env_id], **self.overrides)


@dataclass
class Comparison:
    """Every run's result, by row, in seed order."""

    config: CompareConfig
    rows: dict[str, list[dict]]
    table: str = ""
    failed: list[str] = field(default_factory=list)
    """Runs whose worker process died even alone ("row, seed N: why"); left out of the table."""


def _check(cfg: CompareConfig) -> None:
    from . import AGENTS

    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {list(cfg.seeds)}")
    names = [split_row(row)[0] for row in cfg.rows]
    if len(set(names)) != len(names):
        raise ValueError(f"row names must be distinct, got {names}; name rows with NAME=CONTROLLER")
    for row in cfg.rows:
        name, agent = split_row(row)
        if name.startswith(SCRATCH):
            raise ValueError(f"row name {name!r}: names starting with {SCRATCH!r} are kept for the scratch rows")
        if agent not in AGENTS and not agent.startswith("policy:"):
            raise ValueError(f"unknown controller {agent!r}; choose from {sorted(AGENTS)} or policy:PATH.zip "
                             "(optionally named: NAME=CONTROLLER)")
        if agent.startswith("policy:"):
            if not Path(agent[7:]).is_file():
                raise FileNotFoundError(f"no saved policy at {agent[7:]}")
            _check_policy(Path(agent[7:]), cfg)


def _check_policy(path: Path, cfg: CompareConfig) -> None:
    """Before any run: the file loads as data (architecture and tensors) and fits this env's schema."""
    from esper_env.leyline import ObservationSchema

    from .base import check_schema, load_policy

    config = cfg.env_config()
    _, entry = load_policy(path)
    check_schema(ObservationSchema.from_dict(entry["schema"]), ObservationSchema.build(len(config.slots),
                                                                                      config.blueprints),
                 f"policy {path}")


def plan(cfg: CompareConfig) -> list[RunSpec]:
    """The first-phase runs (every row on every seed)."""
    config = cfg.env_config().to_dict()
    return [RunSpec(cfg.env_id, config, agent, seed, row=name)
            for name, agent in map(split_row, cfg.rows) for seed in cfg.seeds]


def scratch_specs(cfg: CompareConfig, first: dict[str, dict]) -> list[RunSpec]:
    """The second phase: each growing row's final architecture, from the start, same seed and epochs."""
    specs = []
    for spec in plan(cfg):
        if is_growing(spec.agent) and spec.key in first:
            arch = final_architecture(first[spec.key])
            specs.append(RunSpec(spec.env_id, spec.config, "no-growth", spec.seed, arch, row=SCRATCH + spec.row))
    return specs


def run_comparison(cfg: CompareConfig, progress: bool = True) -> Comparison:
    """Run (or load from the cache) every run, then write runs.jsonl, table.md and the figures."""
    from tqdm import tqdm

    _check(cfg)
    cfg.out = Path(cfg.out)
    first = plan(cfg)
    growing = sum(1 for s in first if is_growing(s.agent))
    n_total = len(first) + (growing if cfg.scratch else 0)
    bar = tqdm(total=n_total, unit="run", disable=not progress, desc="compare")
    try:
        ex = Executor(cfg.out, cfg.workers, cfg.executor, progress=bar.update)
        results = ex.run(first)
        specs = list(first)
        if cfg.scratch:
            second = scratch_specs(cfg, results)
            results.update(ex.run(second))
            specs += second
    finally:
        bar.close()
    rows: dict[str, list[dict]] = {}
    for spec in specs:
        if spec.key in results:
            rows.setdefault(spec.row, []).append({**results[spec.key], "row": spec.row})
    comp = Comparison(cfg, rows, failed=[f"{s.row}, seed {s.seed}: {why}" for s, why in ex.failed])
    comp.table = markdown_table(comp)
    if comp.failed:
        comp.table += "\n\nFailed runs (not in the table; a rerun tries them again):\n" + "\n".join(
            f"- {f}" for f in comp.failed)
    write_outputs(comp)
    return comp


# --------------------------------------------------------------------------------------------------
# Statistics and the table
# --------------------------------------------------------------------------------------------------

def mean_ci(x: Iterable[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean (scipy); nan bounds with fewer than 2 values."""
    from scipy import stats

    x = np.asarray(list(x), dtype=float)
    m = float(x.mean()) if len(x) else math.nan
    if len(x) < 2:
        return m, math.nan, math.nan
    if np.all(x == x[0]):
        return m, m, m
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(level)
    return m, float(ci.low), float(ci.high)


def paired(rows: dict[str, list[dict]], a: str, b: str, metric: Callable[[dict], float]):
    """Mean and 95% CI of ``metric(a) - metric(b)`` over the seeds both rows ran (paired by seed)."""
    if a not in rows or b not in rows:
        return None
    by_seed = {r["seed"]: metric(r) for r in rows[b]}
    diffs = [metric(r) - by_seed[r["seed"]] for r in rows[a] if r["seed"] in by_seed]
    return mean_ci(diffs)


def _test(r: dict) -> float:
    return 100 * r["outcome"]["test_accuracy"]


def _fmt_ci(m: float, lo: float, hi: float, signed: bool = False) -> str:
    s = f"{m:+.2f}" if signed else f"{m:.2f}"
    return s if math.isnan(lo) else f"{s} [{lo:+.2f}, {hi:+.2f}]" if signed else f"{s} ± {(hi - lo) / 2:.2f}"


def markdown_table(comp: Comparison) -> str:
    rows = comp.rows
    name_of = {agent: name for name, agent in map(split_row, comp.config.rows)}  # the reference rows, however named
    base_row, heur_row = name_of.get("no-growth", "no-growth"), name_of.get("heuristic", "heuristic")
    base = rows.get(base_row)
    base_flops = np.mean([r["outcome"]["train_flops"] for r in base]) if base else None
    head = ("| controller | test acc. % (95% CI) | Δ vs no-growth, pts [95% CI] | Δ vs heuristic, pts [95% CI] | "
            "val acc. % | params added | train FLOPs | wall s | germ. / foss. / culled |")
    lines = [head, "|" + "---|" * 9]
    for name, rs in rows.items():
        o = [r["outcome"] for r in rs]
        d_base = paired(rows, name, base_row, _test) if name != base_row else None
        d_heur = paired(rows, name, heur_row, _test) if name != heur_row else None
        flops = np.mean([x["train_flops"] for x in o])
        rel = f" ({flops / base_flops:.2f}×)" if base_flops else ""
        lines.append(
            f"| {name} | {_fmt_ci(*mean_ci(_test(r) for r in rs))} | "
            f"{_fmt_ci(*d_base, signed=True) if d_base else '—'} | "
            f"{_fmt_ci(*d_heur, signed=True) if d_heur else '—'} | "
            f"{np.mean([100 * x['val_accuracy'] for x in o]):.2f} | "
            f"{np.mean([x['total_params'] - x['host_params'] for x in o]):,.0f} | {flops:.3g}{rel} | "
            f"{np.mean([r['wall_s'] for r in rs]):.0f} | "
            f"{np.mean([x['seeds_germinated'] for x in o]):.1f} / {np.mean([x['seeds_fossilized'] for x in o]):.1f} / "
            f"{np.mean([x['seeds_culled'] for x in o]):.1f} |")
    lines.append("")
    for name in rows:
        if name.startswith(SCRATCH) and name[len(SCRATCH):] in rows:
            grown = name[len(SCRATCH):]
            d = paired(rows, grown, name, _test)
            f_g, f_s = (np.mean([r["outcome"]["train_flops"] for r in rows[x]]) for x in (grown, name))
            lines.append(f"* {grown} (grown) − {name} (same final architecture from the start): "
                         f"{_fmt_ci(*d, signed=True)} pts, at {f_g / f_s:.2f}× its training FLOPs.")
    named = [(name, agent) for name, agent in map(split_row, comp.config.rows) if name != agent]
    if named:
        lines += [""] if lines[-1] else []
        lines.append("Rows: " + "; ".join(f"{name} = `{agent}`" for name, agent in named) + ".")
    n = len(comp.config.seeds)
    lines.append("")
    lines.append(f"Mean over {n} seeds ({', '.join(map(str, comp.config.seeds))}); intervals are Student-t 95% "
                 "CIs (scipy), differences paired by seed. params, FLOPs, wall and seed counts are means.")
    return "\n".join(lines)


def write_outputs(comp: Comparison) -> None:
    from .plots import plot_accuracy_vs_flops, plot_comparison_curves

    out = comp.config.out
    with atomic_path(out / "runs.jsonl", suffix=".jsonl") as tmp, open(tmp, "w") as f:
        for rs in comp.rows.values():
            for r in rs:
                f.write(json.dumps(r) + "\n")
    cfg = comp.config
    runs = [r for rs in comp.rows.values() for r in rs]
    dates = sorted(r["date"] for r in runs)
    machines = sorted({r["machine"] for r in runs})
    versions = sorted({r["version"] for r in runs})
    header = (f"# Comparison on {cfg.env_id}\n\n"
              + (f"Command: `{cfg.command}`\n\n" if cfg.command else "")
              + f"Config: `{json.dumps(cfg.env_config().to_dict())}`\n\n"
              f"Seeds {list(cfg.seeds)}; {len(runs)} runs, one torch thread each, made {dates[0]} to {dates[-1]} on "
              f"{'; '.join(machines)} (esper {', '.join(versions)}).\n\n")
    with atomic_path(out / "table.md", suffix=".md") as tmp, open(tmp, "w") as f:
        f.write(header + comp.table + "\n")
    plot_comparison_curves(comp.rows, out / "curves.png", title=f"{cfg.env_id}: validation accuracy")
    plot_accuracy_vs_flops(comp.rows, out / "flops.png", title=f"{cfg.env_id}: test accuracy vs training FLOPs")
