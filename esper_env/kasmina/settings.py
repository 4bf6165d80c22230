"""ModelSettings: what shapes a :class:`~esper_env.kasmina.MorphogeneticModel` beyond its host widths.

The one place these defaults live: :class:`esper_env.config.EsperConfig` takes its defaults for the same
fields from :data:`MODEL_DEFAULTS`, and the model takes its keyword arguments from here.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

from .blueprints import DEFAULT_BLUEPRINTS
from .seeds import BLEND_SCHEDULES


@dataclass(frozen=True)
class ModelSettings:
    """Seed slots, blending, embargo and the optimizer of a morphogenetic model."""

    slots: tuple[int, ...] = (0, 1, 2)
    """Host blocks with a seed slot after them (slot k sits after block slots[k])."""
    blueprints: tuple[str, ...] = DEFAULT_BLUEPRINTS
    """Blueprints that GERMINATE may use, in action order."""
    blend_epochs: int = 3
    """Epochs over which a BLENDING seed's alpha ramps from 0 to 1."""
    blend_schedule: str = "linear"
    """Shape of the alpha ramp: "linear" or "cosine"."""
    embargo_epochs: int = 2
    """Decisions for which a slot stays CULLED (GERMINATE illegal) after its seed was culled."""
    lr: float = 0.05
    """Host SGD learning rate at epoch 0."""
    seed_lr: float = 0.05
    """A seed's learning rate at germination."""
    momentum: float = 0.9
    """SGD (Nesterov) momentum, in [0, 1)."""
    weight_decay: float = 5e-4
    """SGD weight decay."""
    image_size: int = 32
    """Side of the square input images, in pixels (16 = CIFAR downsampled 2x); FLOP counts use it."""

    def __post_init__(self) -> None:
        check_lifecycle(self.blend_epochs, self.blend_schedule, self.embargo_epochs)
        check_image_size(self.image_size)


def check_lifecycle(blend_epochs, blend_schedule, embargo_epochs) -> None:
    """The lifecycle settings' one check (EsperConfig reports its message as a ConfigError)."""
    def integer(v) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)
    if not integer(blend_epochs) or blend_epochs < 1:
        raise ValueError(f"blend_epochs={blend_epochs!r} is not allowed: an integer >= 1")
    if not integer(embargo_epochs) or embargo_epochs < 0:
        raise ValueError(f"embargo_epochs={embargo_epochs!r} is not allowed: an integer >= 0")
    if blend_schedule not in BLEND_SCHEDULES:
        raise ValueError(f"blend_schedule={blend_schedule!r} is not allowed: one of "
                         + ", ".join(map(repr, BLEND_SCHEDULES)))


def check_image_size(size) -> None:
    """8..32 pixels, a multiple of 8: the host's three 2x pools must leave at least one pixel."""
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or not 8 <= size <= 32 or size % 8:
        raise ValueError(f"image_size={size!r} is not allowed: 8, 16, 24 or 32 (pixels; the host pools 2x three times)")


MODEL_DEFAULTS = ModelSettings()
SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ModelSettings))
