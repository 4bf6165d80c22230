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

    def __init__(self, index: int, channels: int, *, blend_epochs: int, blend_schedule: str, embargo_epochs: int):
        """The lifecycle settings come checked from :class:`~esper_env.kasmina.settings.ModelSettings`."""
        super().__init__()
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
        """Automatic move before an epoch: a GERMINATED seed that has had its first epoch starts TRAINING.
        (A seed germinated by this step's command stays GERMINATED for this epoch, so it is observed.)"""
        if self.stage == SeedStage.GERMINATED and self.epochs_in_stage >= 1:
            self._move(SeedStage.TRAINING)

    def end_epoch(self) -> None:
        """Automatic move after an epoch: a CULLED slot whose embargo has ended is DORMANT again."""
        self.epochs_in_stage += 1
        if self.stage == SeedStage.CULLED and self.embargo_left == 0:
            self._move(SeedStage.DORMANT)
            self.blueprint = None

    @property
    def embargo_left(self) -> int:
        """CULLED only: epochs (decisions) before the slot is DORMANT again. After the epoch of the cull it is
        ``embargo_epochs``; when it would reach 0 the slot becomes DORMANT at once (see Leyline's
        ``SlotReport.embargo_left``)."""
        if self.stage != SeedStage.CULLED:
            return 0
        return max(0, self.embargo_epochs - max(self.epochs_in_stage - 1, 0))

    @property
    def isolated(self) -> bool:
        """Whether the seed trains in isolation now (GERMINATED or TRAINING): shadow pass, host untouched."""
        return self.stage in (SeedStage.GERMINATED, SeedStage.TRAINING)

    # ---- snapshots -------------------------------------------------------------------------------
    def export_state(self) -> dict:
        """The slot's lifecycle state as plain data (the seed's tensors are in the model's state_dict)."""
        return dict(stage=int(self.stage), blueprint=self.blueprint, epochs_in_stage=self.epochs_in_stage,
                    blend_progress=self.blend_progress)

    def import_state(self, state: dict) -> nn.Module | None:
        """Set the lifecycle state; build an (uninitialised) seed module where the stage has one, and
        return it so the caller can load its tensors and register it with the optimizer."""
        stage = SeedStage(state["stage"])
        self.seed = None
        if stage in (SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.FOSSILIZED):
            self.seed = get_blueprint(state["blueprint"]).build(self.channels)
        self.stage, self.blueprint = stage, state["blueprint"]
        self.epochs_in_stage, self.blend_progress = int(state["epochs_in_stage"]), float(state["blend_progress"])
        return self.seed

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
