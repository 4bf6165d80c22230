"""Running a comparison's episodes: one per worker process (or Ray task), cached, interruptible."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agents.parallel import WorkerDied, maybe_interrupt, run_tasks
from esper_env.config import EsperConfig
from esper_env.fileio import atomic_path

from ..records import RunRecord, raw_runs
from .plan import RunSpec


def run_one(spec: RunSpec) -> RunRecord:
    """Play ``spec`` in this process with one torch thread; its record."""
    import gymnasium as gym
    import torch

    import esper_env  # noqa: F401 (registers the ids)
    from agents import make_agent, run_episode
    from agents.parallel import maybe_crash

    from ..records import episode_result

    maybe_crash(f"{spec.row}:{spec.seed}")
    torch.set_num_threads(1)
    # The planned precision (its key says it), not this worker's own resolution of "auto"; recorded as asked.
    env = gym.make(spec.env_id, config=dict(spec.config, precision=spec.precision or spec.config["precision"]))
    agent = make_agent(spec.agent, schema=env.unwrapped.schema)
    if hasattr(agent, "bind"):  # a privileged oracle (lab/oracles.py): told the env, to read its hidden event
        agent.bind(env.unwrapped)
    start = time.perf_counter()
    record = run_episode(env, agent, seed=spec.seed,
                         options={"fossilized": dict(spec.fossilized)} if spec.fossilized else None)
    wall = time.perf_counter() - start
    return episode_result(record, EsperConfig.from_dict(spec.config), env.unwrapped.precision, env_id=spec.env_id,
                          controller=spec.agent, row=spec.row,
                          key=spec.key, fossilized=spec.fossilized, wall_s=wall,
                          actions=[s.command for s in record.steps])


class Executor:
    """Runs specs, skipping those already on disk, writing each finished run as soon as it is done."""

    def __init__(self, out: Path, workers: int = 1, executor: str = "process",
                 progress: Callable[[int], Any] | None = None):
        self.runs = out / "runs"
        self.workers, self.executor, self.progress = workers, executor, progress
        self.failed: list[tuple[RunSpec, str]] = []
        """Runs whose worker process died even when they ran alone (not cached: a rerun tries them again)."""
        self._seed_cache(out / "runs.jsonl")

    def _seed_cache(self, runs_jsonl: Path) -> None:
        """Put the records of an earlier invocation's ``runs.jsonl`` (a committed comparison, say) in the cache, so
        that adding a row to a comparison runs only the new row's episodes."""
        for d in raw_runs(runs_jsonl):
            key = d.get("key")
            if isinstance(key, str) and key.isalnum() and not (self.runs / f"{key}.json").exists():
                self.runs.mkdir(parents=True, exist_ok=True)
                with atomic_path(self.runs / f"{key}.json", suffix=".json") as tmp, open(tmp, "w") as f:
                    json.dump(d, f)

    def path(self, spec: RunSpec) -> Path:
        return self.runs / f"{spec.key}.json"

    def cached(self, spec: RunSpec) -> RunRecord | None:
        try:
            record = RunRecord.from_dict(json.loads(self.path(spec).read_text()))
        except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError):
            return None
        slots = list(record.config.get("slots", ()))
        if record.layout is None and slots != list(range(len(slots))):
            return None  # made before the common layout numbered slots by position: run it again
        if record.precision != spec.precision:
            return None  # made in another precision (or an unknown one): never a paired partner, run it again
        return record

    def _save(self, spec: RunSpec, result: RunRecord) -> None:
        with atomic_path(self.path(spec), suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(result.to_dict(), f)

    def run(self, specs: Iterable[RunSpec]) -> dict[str, RunRecord]:
        results: dict[str, RunRecord] = {}
        todo: dict[str, RunSpec] = {}
        for spec in specs:
            hit = self.cached(spec)
            if hit is not None:
                results[spec.key] = hit
                self._tick()
            elif spec.key not in todo:
                todo[spec.key] = spec
        if todo:
            saved = 0
            for spec, result in run_tasks(run_one, list(todo.values()), self.workers, self.executor):
                if isinstance(result, WorkerDied):
                    self.failed.append((spec, result.message))
                else:
                    self._save(spec, result)
                    results[spec.key] = result
                    saved += 1
                    maybe_interrupt(f"compare:{saved}")
                self._tick()
        return results

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(1)

