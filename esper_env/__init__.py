"""Esper: morphogenetic neural-network training as a Gymnasium environment.

Importing this package registers the environment ids (``Esper-CIFAR10-v0``, ``Esper-Synthetic-v0``,
``Esper-Fast-v0``, ``Esper-Tiny-v0``); ``gym.make("esper_env:Esper-CIFAR10-v0")`` imports it for you.
"""

import gymnasium as gym

from ._version import __version__

ENV_IDS = ("Esper-CIFAR10-v0", "Esper-Synthetic-v0", "Esper-Fast-v0", "Esper-Tiny-v0")


PRESET_OF = {"Esper-CIFAR10-v0": "cifar10", "Esper-Synthetic-v0": "synthetic", "Esper-Fast-v0": "fast",
             "Esper-Tiny-v0": "tiny"}
"""Registered id -> the :data:`esper_env.config.PRESETS` entry it builds."""


def check_env_id(env_id: str) -> str:
    """``env_id`` if it is a registered Esper id, else a ValueError naming the ids (every command's one check)."""
    if env_id not in PRESET_OF:
        raise ValueError(f"unknown env id {env_id!r}; choose one of {', '.join(ENV_IDS)}")
    return env_id


def config_for(env_id: str, **overrides):
    """The :class:`EsperConfig` that ``gym.make(env_id, **overrides)`` builds, checked (ConfigError otherwise)."""
    from .config import make_config

    return make_config(PRESET_OF[check_env_id(env_id)], **overrides)


def _register() -> None:
    for env_id in ENV_IDS:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="esper_env.env:EsperEnv", kwargs={"config": PRESET_OF[env_id]})


_register()

from .config import ConfigError, EsperConfig  # noqa: E402
from .env import EsperEnv  # noqa: E402
from .snapshot import EnvSnapshot, load_snapshot, save_snapshot  # noqa: E402

__all__ = ["ENV_IDS", "PRESET_OF", "ConfigError", "EnvSnapshot", "EsperConfig", "EsperEnv", "__version__",
           "check_env_id", "config_for", "load_snapshot", "save_snapshot"]
