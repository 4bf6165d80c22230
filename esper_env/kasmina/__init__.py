"""Kasmina: the host model, seed slots, blueprints, isolation, alpha blending and the seed lifecycle."""

from .blueprints import BLUEPRINTS, DEFAULT_BLUEPRINTS, Blueprint, get_blueprint
from .host import PRESETS, HostCNN, host_widths
from .model import MorphogeneticModel
from .seeds import BLEND_SCHEDULES, SeedSlot, blend_alpha
from .settings import MODEL_DEFAULTS, ModelSettings

__all__ = ["BLEND_SCHEDULES", "BLUEPRINTS", "DEFAULT_BLUEPRINTS", "MODEL_DEFAULTS", "Blueprint", "HostCNN",
           "ModelSettings", "MorphogeneticModel", "PRESETS", "SeedSlot", "blend_alpha", "get_blueprint", "host_widths"]
