"""One seed slot's lifecycle: germination, isolation, alpha blending, fossilization, culling.

Every stage change goes through :func:`esper_env.leyline.check_transition`, which raises on an illegal
move (an earlier implementation's transition call returned False silently and lost every seed in
BLENDING). The slot's forward is ``h + alpha * seed(h)``; isolation of a TRAINING seed is done by the
model's shadow pass (see :mod:`.model`), never by the main path.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..leyline import IllegalCommandError, SeedStage, check_transition
from .blueprints import get_blueprint

BLEND_SCHEDULES = ("linear", "cosine")


def blend_alpha(progress: float, schedule: str = "linear") -> float:
    """alpha for blending ``progress`` in [0, 1]: linear, or cosine (smooth start and end)."""
    p = min(max(progress, 0.0), 1.0)
    if schedule == "linear":
        return p
    if schedule == "cosine":
        return 0.5 - 0.5 * math.cos(math.pi * p)
    raise ValueError(f"unknown blend schedule {schedule!r}; choose one of {BLEND_SCHEDULES}")


class SeedSlot(nn.Module):
    """A place after a host block where one seed at a time can live."""

    def __init__(self, index: int, channels: int, *, blend_epochs: int = 3, blend_schedule: str = "linear",
                 embargo_epochs: int = 2):
        super().__init__()
        if blend_epochs < 1:
            raise ValueError("blend_epochs must be >= 1")
        if embargo_epochs < 0:
            raise ValueError("embargo_epochs must be >= 0")
        blend_alpha(0.0, blend_schedule)  # validates the name
        self.index = index
        self.channels = channels
        self.blend_epochs = blend_epochs
        self.blend_schedule = blend_schedule
        self.embargo_epochs = embargo_epochs
        self.stage = SeedStage.DORMANT
        self.blueprint: str | None = None
        self.seed: nn.Module | None = None
        self.epochs_in_stage = 0
        self.blend_progress = 0.0
        self.embargo_left = 0

    # ---- lifecycle -------------------------------------------------------------------------------
    def _move(self, target: SeedStage) -> None:
        self.stage = check_transition(self.stage, target)
        self.epochs_in_stage = 0

    def germinate(self, blueprint: str, init_seed: int) -> nn.Module:
        """Create the seed module (initialised from ``init_seed``) and return it."""
        bp = get_blueprint(blueprint)
        self._move(SeedStage.GERMINATED)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            self.seed = bp.build(self.channels)
        self.blueprint = blueprint
        self.blend_progress = 0.0
        return self.seed

    def advance(self) -> SeedStage:
        """TRAINING -> BLENDING, or BLENDING -> FOSSILIZED once blending is complete."""
        if self.stage == SeedStage.TRAINING:
            target = SeedStage.BLENDING
        elif self.stage == SeedStage.BLENDING and self.blend_complete:
            target = SeedStage.FOSSILIZED
        else:
            why = (f"blending is {self.blend_progress:.0%} done (fossilize once alpha reaches 1)"
                   if self.stage == SeedStage.BLENDING else f"the seed is {self.stage.name}")
            raise IllegalCommandError(f"slot {self.index}: cannot ADVANCE: {why}")
        self._move(target)
        return target

    def cull(self) -> nn.Module | None:
        """Remove the seed (the caller frees its optimizer state); the slot goes under embargo."""
        self._move(SeedStage.CULLED)
        seed, self.seed = self.seed, None
        self.embargo_left = self.embargo_epochs
        self.blend_progress = 0.0
        return seed

    def fossilize_now(self, blueprint: str, init_seed: int) -> nn.Module:
        """Build a seed that is fossilized from the start (the "same architecture from scratch" row)."""
        seed = self.germinate(blueprint, init_seed)
        for target in (SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.FOSSILIZED):
            self._move(target)
        self.blend_progress = 1.0
        return seed

    def start_epoch(self) -> None:
        """Automatic moves at an epoch boundary: GERMINATED starts training; an expired embargo ends."""
        if self.stage == SeedStage.GERMINATED:
            self._move(SeedStage.TRAINING)
        elif self.stage == SeedStage.CULLED and self.embargo_left <= 0:
            self._move(SeedStage.DORMANT)
            self.blueprint = None

    def end_epoch(self) -> None:
        self.epochs_in_stage += 1
        if self.stage == SeedStage.CULLED:
            self.embargo_left = max(0, self.embargo_left - 1)

    def step_blend(self, fraction_of_epoch: float) -> None:
        """Advance a BLENDING seed's ramp by ``fraction_of_epoch`` epochs (called once per batch)."""
        if self.stage == SeedStage.BLENDING:
            self.blend_progress = min(1.0, self.blend_progress + fraction_of_epoch / self.blend_epochs)

    # ---- state -----------------------------------------------------------------------------------
    @property
    def blend_complete(self) -> bool:
        return self.stage == SeedStage.BLENDING and self.blend_progress >= 1.0 - 1e-9

    @property
    def alpha(self) -> float:
        if self.stage == SeedStage.FOSSILIZED:
            return 1.0
        if self.stage == SeedStage.BLENDING:
            return blend_alpha(self.blend_progress, self.blend_schedule)
        return 0.0

    @property
    def param_count(self) -> int:
        return 0 if self.seed is None else sum(p.numel() for p in self.seed.parameters())

    def forward(self, h: torch.Tensor, alpha: float | None = None) -> torch.Tensor:
        """``h + alpha * seed(h)``; ``alpha`` overrides the stage's own (for counterfactual evaluation)."""
        a = self.alpha if alpha is None else alpha
        if self.seed is None or a == 0.0:
            return h
        return h + a * self.seed(h)
