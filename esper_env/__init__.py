"""Esper: morphogenetic neural-network training as a Gymnasium environment.

Importing this package registers the environment ids (``Esper-CIFAR10-v0``, ``Esper-Synthetic-v0``,
``Esper-Tiny-v0``); ``gym.make("esper_env:Esper-CIFAR10-v0")`` imports it for you.
"""

import gymnasium as gym

__version__ = "0.1.0"

ENV_IDS = ("Esper-CIFAR10-v0", "Esper-Synthetic-v0", "Esper-Tiny-v0")


def _register() -> None:
    from .env import CIFAR10_DEFAULTS, SYNTHETIC_DEFAULTS, TINY_DEFAULTS

    for env_id, kwargs in zip(ENV_IDS, (CIFAR10_DEFAULTS, SYNTHETIC_DEFAULTS, TINY_DEFAULTS)):
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="esper_env.env:EsperEnv", kwargs=dict(kwargs))


_register()

from .env import EsperEnv  # noqa: E402

__all__ = ["ENV_IDS", "EsperEnv", "__version__"]
