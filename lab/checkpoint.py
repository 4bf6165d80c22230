"""Resumable episodes: a checkpoint is an env snapshot plus the episode record so far and the agent's state.

Files hold tensors and plain data only (read back with ``torch.load(weights_only=True)``), are written
atomically after every step, and so survive an interrupt or a crash at any moment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from agents.base import Agent, EpisodeRecord, StepRecord, play
from agents.parallel import maybe_interrupt
from esper_env import load_snapshot, save_snapshot
from esper_env.leyline import TrainingReport


def _step_to_dict(s: StepRecord) -> dict:
    return dict(epoch=s.epoch, action=s.action, command=s.command, reason=s.reason, reward=s.reward,
                report=s.report.to_dict(), illegal=s.illegal)


def _step_from_dict(d: dict) -> StepRecord:
    return StepRecord(**{**d, "report": TrainingReport.from_dict(d["report"])})


def save_checkpoint(path: str | os.PathLike, env, agent: Agent, record: EpisodeRecord) -> None:
    """Write the episode's state now (between steps) to ``path`` atomically."""
    get_state = getattr(agent, "get_state", None)
    save_snapshot(path, env.unwrapped.snapshot(), agent=record.agent, seed=record.seed,
                  agent_state=get_state() if get_state else None,
                  initial_report=record.initial_report.to_dict(), steps=[_step_to_dict(s) for s in record.steps])
    maybe_interrupt(f"run:{len(record.steps)}")


def unfinished(path: str | os.PathLike | None) -> int | None:
    """The epochs an unfinished episode saved at ``path`` has trained; None when there is no file or its episode
    ended (a rerun of the same command continues the first, and starts the second anew)."""
    if path is None or not Path(path).is_file():
        return None
    snapshot, _ = load_snapshot(path)
    return None if snapshot.episode["ended"] else int(snapshot.episode["epoch"])


def resume_episode(path: str | os.PathLike, env, agent: Agent, *, seed: int | None = None,
                   on_step: Callable[[StepRecord], None] | None = None,
                   checkpoint_every_step: bool = True) -> EpisodeRecord:
    """Continue the episode saved at ``path`` with ``agent`` on ``env`` (same config) to its end."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: not found (relative to {Path.cwd()}); "
                                f"run without --resume to start the episode")
    snapshot, extra = load_snapshot(path)
    name = getattr(agent, "name", type(agent).__name__)
    if extra.get("agent") != name or (seed is not None and extra.get("seed") != seed):
        raise ValueError(f"{path} holds an episode of agent {extra.get('agent')!r}, seed {extra.get('seed')!r}; "
                         f"asked to resume agent {name!r}, seed {seed!r}")
    env.reset(seed=extra["seed"])  # gymnasium's wrappers insist on a reset before the first step
    obs, info = env.unwrapped.restore(snapshot)
    agent.reset(extra["seed"])
    if extra.get("agent_state") is not None:
        agent.set_state(extra["agent_state"])
    record = EpisodeRecord(name, extra["seed"], TrainingReport.from_dict(extra["initial_report"]),
                           [_step_from_dict(s) for s in extra["steps"]])
    if snapshot.episode["ended"]:
        raise ValueError(f"{path} holds an episode that already ended; nothing to resume")
    after = (lambda r: save_checkpoint(path, env, agent, r)) if checkpoint_every_step else None
    return play(env, agent, obs, info, record, on_step=on_step, after_step=after)
