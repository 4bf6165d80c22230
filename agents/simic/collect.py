"""Collect demonstrations: a teacher (the heuristic) plays episodes; every visited state is labelled.

Exploration beyond the teacher's own states: at a fraction ``explore`` of the steps a random legal command
other than the teacher's is executed instead, so the episode moves into states the teacher would not have
reached. The teacher is stateless (it decides from the current report alone), so every state, explored or
not, still gets the teacher's label -- in the spirit of DAgger, without a learner in the loop.

Each episode depends only on (env config, teacher, explore, seed), so the file's content does not depend on
the number of worker processes or on interruptions: the file is rewritten atomically after every finished
episode, and a rerun with the same settings continues where it stopped.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

import esper_env
from esper_env.fileio import check_output_file

from ..parallel import WorkerDied, check_executor, maybe_crash, maybe_interrupt, run_tasks
from ..seeds import TRAINING_START, check_training_seeds
from .dataset import Demonstrations, Episode, EpisodeRows, open_or_start, recording


@dataclass
class CollectConfig:
    """What to collect."""

    env_id: str = "Esper-Fast-v0"
    """Registered env id."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced for every episode."""
    teacher: str = "heuristic"
    """A built-in controller, or policy:PATH.zip (a saved policy, made on any id, acting greedily), that labels
    every state (it must decide from the current observation alone)."""
    seeds: tuple[int, ...] = tuple(range(TRAINING_START, TRAINING_START + 100))
    """Training episode seeds (>= 1000: evaluation and validation seeds are below)."""
    explore: float = 0.2
    """Fraction of steps that execute a random legal command other than the teacher's."""
    out: Path = Path("runs/demos.npz")
    """The demonstration file (rewritten atomically after every episode; resumed if it exists)."""
    workers: int = 1
    """Worker processes, one torch thread each (the file does not depend on the number)."""
    executor: str = "process"
    """"process" (local worker processes) or "ray" (a Ray cluster at $RAY_ADDRESS, else a local one with --workers
    CPUs); the results do not depend on it."""

    def check(self) -> None:
        """Every setting, before any work starts (one clear error each)."""
        from ..registry import RULES, ControllerSpec

        config = esper_env.config_for(self.env_id, **self.overrides)
        teacher = ControllerSpec.parse(self.teacher, named=False)
        if teacher.kind != "policy" and teacher.value not in RULES:
            raise ValueError(f"teacher must be a built-in rule controller ({', '.join(RULES)}) or policy:PATH.zip, "
                             f"got {self.teacher!r}")
        teacher.check(config.schema())
        if not 0.0 <= self.explore < 1.0:
            raise ValueError(f"explore must be in [0, 1), got {self.explore}")
        check_training_seeds(self.seeds)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        out = Path(self.out)
        if out.is_dir():
            raise ValueError(f"--out {out} is a folder; give a file name such as {out / 'demos.npz'}")
        check_output_file(out, "--out")
        check_executor(self.executor)


def collect_episode(env_id: str, kwargs: dict, teacher: str, explore: float, seed: int) -> Episode:
    """Play one episode (in this process, one torch thread) and label every state with the teacher."""
    import gymnasium as gym
    import torch

    from .. import make_agent

    maybe_crash(f"collect:{seed}")
    torch.set_num_threads(1)
    env = gym.make(env_id, **kwargs)  # (esper_env.env_kwargs)
    agent = make_agent(teacher, schema=env.unwrapped.schema)
    rng = np.random.default_rng([seed, 7919])
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    rows = EpisodeRows()
    done = False
    while not done:
        mask = np.asarray(info["action_mask"], dtype=bool)
        label = int(agent.act(obs, info))
        action = label
        others = np.flatnonzero(mask)
        others = others[others != label]
        if len(others) and rng.random() < explore:
            action = int(rng.choice(others))
        rows.add(obs, mask, label, action)
        obs, reward, terminated, truncated, info = env.step(action)
        rows.reward(reward)
        done = terminated or truncated
    env.close()
    return rows.episode(seed, info["final"].test_accuracy)


def collect(cfg: CollectConfig, progress: bool = True,
            on_episode: Callable[[Episode], None] | None = None) -> Demonstrations:
    """Collect ``cfg.seeds`` (those not already in ``cfg.out``), saving after every finished episode."""
    from tqdm import tqdm


    cfg.check()
    out = Path(cfg.out)
    kwargs, schema, made = recording(cfg.env_id, cfg.overrides, teacher=cfg.teacher, explore=cfg.explore)
    demos = open_or_start(out, made, schema)
    todo = [s for s in cfg.seeds if s not in demos.episodes]
    bar = tqdm(total=len(cfg.seeds), initial=len(cfg.seeds) - len(todo), unit="episode", desc="collect",
               disable=not progress)

    def finished(ep: Episode) -> None:
        demos.episodes[ep.seed] = ep
        demos.meta["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        demos.save(out)
        maybe_interrupt(f"collect:{len(demos.episodes)}")
        bar.update(1)
        if on_episode is not None:
            on_episode(ep)

    args = (cfg.env_id, kwargs, cfg.teacher, cfg.explore)
    try:
        if cfg.executor == "process" and (cfg.workers == 1 or len(todo) <= 1):
            for seed in todo:
                finished(collect_episode(*args, seed))
        else:  # a worker that dies is retried, then isolated; its episode is reported, the rest completes
            for seed, ep in run_tasks(partial(collect_episode, *args), todo, cfg.workers, cfg.executor):
                if isinstance(ep, WorkerDied):
                    demos.failed.append(seed)
                    bar.update(1)
                else:
                    finished(ep)
    finally:
        bar.close()
    return demos
