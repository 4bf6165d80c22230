"""MixedEsperEnv (``Esper-Mixed-v0``): every reset draws a training task from a distribution.

Because every Esper env has the same spaces (the common layout), one controller can act on all of them; this env
is where it learns to: ``reset(seed=s)`` draws the task of ``s`` from a :class:`~esper_env.tasks.TaskDistribution`
and plays an ordinary :class:`~esper_env.env.EsperEnv` episode of it with the same seed, so
``MixedEsperEnv().reset(seed=s)`` and ``EsperEnv(tasks.draw(s)).reset(seed=s)`` are the same episode.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np

from . import leyline as ly
from .config import ConfigError, EsperConfig, make_config
from .env import EsperEnv
from .tasks import SPLITS, TaskDistribution, task_distribution


class MixedEsperEnv(gym.Env):
    """Esper on a distribution of tasks: each episode trains a host drawn from ``tasks``.

    ## Description
    An :class:`~esper_env.env.EsperEnv` whose config is drawn at every reset: host preset and width, training
    images, epochs, learning rate, blend epochs, synthetic dataset, enabled slot positions, image size (see
    :mod:`esper_env.tasks`). Everything else (commands, lifecycle, rewards, episode end) is EsperEnv's.

    ## Action Space
    ``Discrete(22)``: the common layout, as in every Esper env. The slot positions and blueprints the drawn task
    does not enable are never legal (``action_masks()``).

    ## Observation Space
    The common layout's ``Box(-1, 1, (n,), float32)``; its ``task_*`` entries describe the drawn task.

    ## Rewards
    EsperEnv's (with the drawn task's settings).

    ## Starting State
    ``reset(seed=s)`` draws the task of ``s`` (the same seed always draws the same task) and starts its episode
    with seed ``s``; ``info["task"]`` is the drawn :class:`~esper_env.config.EsperConfig`. Without a seed, a
    seed is drawn from the env's generator. ``options`` as in EsperEnv.

    ## Episode End
    EsperEnv's.

    ## Arguments
    ``MixedEsperEnv(tasks="synthetic", split="train", data_root=None, config=None, cache_size=8, **overrides)``:
    ``tasks`` a :class:`TaskDistribution` or a name from :data:`esper_env.tasks.TASK_DISTRIBUTIONS`; ``split``
    "train" or "heldout" (tasks no training draw produces); ``data_root`` where real-data families find
    CIFAR-10; ``config`` a fixed task to play instead of draws (how a comparison replays a drawn task);
    ``overrides`` replace fields of every drawn task (e.g. ``rent_coef=0``, ``threads=1``). Envs of recent tasks
    are kept (``cache_size``) with their data, so a task drawn again costs no data loading or generation.
    """

    metadata = {"render_modes": []}

    def __init__(self, tasks: TaskDistribution | str = "synthetic", split: str = "train", data_root: str | None = None,
                 config: EsperConfig | str | dict | None = None, cache_size: int = 8, **overrides: Any):
        super().__init__()
        if split not in SPLITS:
            raise ConfigError(f"split={split!r} is not allowed: one of {', '.join(map(repr, SPLITS))}")
        if not isinstance(cache_size, int) or cache_size < 1:
            raise ConfigError(f"cache_size={cache_size!r} is not allowed: an integer >= 1")
        self.tasks = task_distribution(tasks, data_root)
        self.split, self.overrides, self.cache_size = split, dict(overrides), cache_size
        self.fixed = None if config is None else make_config(config, **overrides)
        self.draw(0)  # the overrides apply to a drawn task (a ConfigError now, not at the first reset)
        self.schema = ly.ObservationSchema.build()
        self.codec = ly.ActionCodec.layout()
        self.observation_fields = list(self.schema.fields)
        self.action_space = gym.spaces.Discrete(self.codec.n)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (len(self.observation_fields),), np.float32)
        self._envs: OrderedDict[EsperConfig, EsperEnv] = OrderedDict()
        self.env: EsperEnv | None = None if self.fixed is None else self._env_for(self.fixed)
        """The current task's env (built at reset; at once for a fixed task)."""

    def draw(self, seed: int) -> EsperConfig:
        """The task ``reset(seed=seed)`` plays."""
        return self.fixed if self.fixed is not None else self.tasks.draw(seed, self.split, **self.overrides)

    @property
    def config(self) -> EsperConfig:
        """The current task (``info["task"]`` at reset)."""
        if self.env is None:
            raise RuntimeError("call reset() first: the task is drawn at reset")
        return self.env.config

    def __getattr__(self, name: str):
        # The current task's env's attributes (state, report, timings, model, device, ...), after reset.
        if name.startswith("_") or self.__dict__.get("env") is None:
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        self.env = self._env_for(self.draw(seed))
        obs, info = self.env.reset(seed=seed, options=options)
        info["task"] = self.env.config
        return obs, info

    def step(self, action):
        if self.env is None:
            raise RuntimeError("call reset() before step()")
        return self.env.step(action)

    def action_masks(self) -> np.ndarray:
        if self.env is None:
            return np.eye(1, self.codec.n, dtype=bool)[0]  # before reset: only WAIT
        return self.env.action_masks()

    def snapshot(self):
        if self.env is None:
            raise RuntimeError("call reset() before snapshot(): there is no episode yet")
        return self.env.snapshot()

    def restore(self, snapshot):
        """Continue the episode ``snapshot`` captured (of whichever task it was)."""
        self.env = self._env_for(EsperConfig.from_dict(snapshot.config))
        return self.env.restore(snapshot)

    def _env_for(self, config: EsperConfig) -> EsperEnv:
        if config in self._envs:
            self._envs.move_to_end(config)
            return self._envs[config]
        env = EsperEnv(config)
        self._envs[config] = env
        while len(self._envs) > self.cache_size:
            self._envs.popitem(last=False)
        return env
