"""``esper run``'s job: one episode with one controller, optionally checkpointed and resumed."""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

from esper_env.fileio import check_output_file
from lab.plots import plot_formats


@dataclass
class RunConfig:
    """One episode with one controller."""

    agent: str = "heuristic"
    """The controller: heuristic | no-growth | fixed | random | policy:PATH.zip | schedule:PATH.json."""
    env_id: str = "Esper-Synthetic-v0"
    """Registered env id."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced (e.g. max_epochs, data_root)."""
    seed: int = 0
    """Episode seed, >= 0 (it seeds the split, the host's initialisation and the data order)."""
    plot: str | None = None
    """Save the accuracy curve with lifecycle events to this image file."""
    json: str | None = None
    """Write the result (outcome, config, version, machine, date) to this JSON file."""
    checkpoint: str | None = None
    """Save the episode's state to this file after every epoch (env snapshot + record so far); if it holds an
    unfinished episode, continue it (rerun the same command after an interrupt)."""
    resume: bool = False
    """Continue the episode saved in checkpoint, and refuse to start anew if there is none."""
    trust_policy_file: bool = False
    """Allow a policy file that can only be loaded by unpickling (it could run code)."""

    def check(self) -> None:
        """Every setting, before any data is loaded (one clear error each)."""
        import esper_env

        if not isinstance(self.seed, numbers.Integral) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.resume and not self.checkpoint:
            raise ValueError("--resume needs --checkpoint FILE (the file the interrupted run was saving)")
        check_output_file(self.json, "--json")
        check_output_file(self.checkpoint, "--checkpoint")
        check_output_file(self.plot, "--plot", plot_formats())
        esper_env.config_for(self.env_id, self.seed, **self.overrides)


def run(cfg: RunConfig, on_start: Callable | None = None, on_step: Callable | None = None):
    """Play ``cfg``'s episode; returns (env, agent, EpisodeRecord). ``on_start(env, agent)`` is called before
    the first epoch, ``on_step(step)`` after each; the JSON result is written if asked for."""
    import gymnasium as gym

    import esper_env
    from agents import make_agent, run_episode
    from esper_env.fileio import atomic_path

    from .checkpoint import resume_episode, save_checkpoint, unfinished
    from .records import episode_result

    cfg.check()
    env = gym.make(cfg.env_id, config=esper_env.config_for(cfg.env_id, cfg.seed, **cfg.overrides))
    agent = make_agent(cfg.agent, schema=env.unwrapped.schema, trust=cfg.trust_policy_file)
    if on_start is not None:
        on_start(env, agent)
    if cfg.resume or unfinished(cfg.checkpoint) is not None:
        record = resume_episode(cfg.checkpoint, env, agent, seed=cfg.seed, on_step=on_step)
    else:
        record = run_episode(env, agent, seed=cfg.seed, on_step=on_step, after_step=(
            (lambda r: save_checkpoint(cfg.checkpoint, env, agent, r)) if cfg.checkpoint else None))
    if cfg.json:
        with atomic_path(cfg.json, suffix=".json") as tmp, open(tmp, "w") as f:
            result = episode_result(record, env.unwrapped.config, env.unwrapped.precision, env_id=cfg.env_id)
            json.dump(result.to_dict(), f, indent=1)
    return env, agent, record

