"""Esper: morphogenetic neural-network training as a Gymnasium environment.

Importing this package registers the environment ids (``Esper-CIFAR10-v0``, ``Esper-Synthetic-v0``,
``Esper-Fast-v0``, ``Esper-Tiny-v0``, ``Esper-Mixed-v0``, which draws a task per episode, and the hidden-event
ids ``Esper-Stream-v0``, ``Esper-Faulty-v0``, ``Esper-Shift-v0`` and ``Esper-Capacity-v0``, which draw theirs from
an event family);
``gym.make("esper_env:Esper-CIFAR10-v0")`` imports it for you. Every id has the same spaces (the common layout).
"""

import gymnasium as gym

from ._version import __version__

ENV_IDS = ("Esper-CIFAR10-v0", "Esper-Synthetic-v0", "Esper-Fast-v0", "Esper-Tiny-v0", "Esper-Mixed-v0",
           "Esper-Stream-v0", "Esper-Faulty-v0", "Esper-Shift-v0", "Esper-Capacity-v0")

MIXED_ID = "Esper-Mixed-v0"
"""The id whose config is drawn per seed from any task distribution (:class:`esper_env.mixed.MixedEsperEnv`)."""

DRAWN_IDS = {MIXED_ID: "synthetic", "Esper-Stream-v0": "stream", "Esper-Faulty-v0": "faulty",
             "Esper-Shift-v0": "shift", "Esper-Capacity-v0": "capacity"}
"""Ids whose task is drawn per seed, and the task distribution each draws from by default (``tasks=`` changes
it): Esper-Stream-v0 (new classes arrive at a hidden epoch) and Esper-Faulty-v0 (seeds fail with a hidden
probability), Esper-Shift-v0 (the images change at a hidden epoch) and Esper-Capacity-v0 (a hidden number of
classes) are Esper-Mixed-v0 on their event family."""


def is_drawn(env_id: str) -> bool:
    """Whether ``env_id`` draws its task per seed (a MixedEsperEnv)."""
    return env_id in DRAWN_IDS


PRESET_OF = {"Esper-CIFAR10-v0": "cifar10", "Esper-Synthetic-v0": "synthetic", "Esper-Fast-v0": "fast",
             "Esper-Tiny-v0": "tiny"}
"""Registered id -> the :data:`esper_env.config.PRESETS` entry it builds."""


def check_env_id(env_id: str) -> str:
    """``env_id`` if it is a registered Esper id, else a ValueError naming the ids (every command's one check)."""
    if env_id not in ENV_IDS:
        raise ValueError(f"unknown env id {env_id!r}; choose one of {', '.join(ENV_IDS)}")
    return env_id


def config_for(env_id: str, seed: int = 0, **overrides):
    """The :class:`EsperConfig` that ``gym.make(env_id, **overrides)`` builds, checked (ConfigError otherwise);
    for ``Esper-Mixed-v0``, the task it draws for ``seed`` (``tasks``, ``split`` and ``data_root`` select the
    distribution, as in ``gym.make``)."""
    from .config import make_config

    if is_drawn(check_env_id(env_id)):
        from .tasks import task_distribution

        tasks = task_distribution(overrides.pop("tasks", DRAWN_IDS[env_id]), overrides.pop("data_root", None))
        return tasks.draw(seed, overrides.pop("split", "train"), **overrides)
    return make_config(PRESET_OF[env_id], **overrides)


def env_kwargs(env_id: str, **overrides) -> dict:
    """What ``gym.make(env_id, **kwargs)`` takes for ``overrides``, checked (ConfigError otherwise), plain data:
    ``{"config": <the config as a dict>}`` for a fixed id; for ``Esper-Mixed-v0``, which draws a task per seed,
    the overrides themselves (``tasks`` must then be a distribution's name)."""
    config = config_for(env_id, **overrides)
    if is_drawn(env_id):
        if not isinstance(overrides.get("tasks", DRAWN_IDS[env_id]), str):
            raise ValueError("give the task distribution by name (tasks=...) so that it can be recorded")
        return dict(overrides)
    return {"config": config.to_dict()}


def _register() -> None:
    for env_id in PRESET_OF:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="esper_env.env:EsperEnv", kwargs={"config": PRESET_OF[env_id]})
    for env_id, tasks in DRAWN_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="esper_env.mixed:MixedEsperEnv",
                         kwargs={} if env_id == MIXED_ID else {"tasks": tasks})


_register()

from .config import ConfigError, EsperConfig  # noqa: E402
from .env import EsperEnv  # noqa: E402
from .snapshot import EnvSnapshot, load_snapshot, save_snapshot  # noqa: E402

__all__ = ["DRAWN_IDS", "ENV_IDS", "MIXED_ID", "PRESET_OF", "ConfigError", "EnvSnapshot", "EsperConfig", "EsperEnv",
           "__version__", "check_env_id", "config_for", "env_kwargs", "is_drawn", "load_snapshot", "save_snapshot"]
