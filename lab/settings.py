"""Settings the experiments share: where the real CIFAR-10 subset lives and its evaluation overrides."""

from __future__ import annotations

from esper_env.config import SETTINGS

SUBSET_ROOT = "../shared/data/cifar10-subset"
"""Where this project keeps the real CIFAR-10 subset, relative to the repository (scripts run from there; records
keep the path as given, and the cache key leaves it out)."""


def subset_overrides(**more) -> dict:
    """Esper-CIFAR10-v0's overrides for the real-subset evaluation (``SETTINGS["cifar10-subset"]``) at
    :data:`SUBSET_ROOT`, plus ``more``."""
    return dict(SETTINGS["cifar10-subset"], data_root=SUBSET_ROOT, **more)
