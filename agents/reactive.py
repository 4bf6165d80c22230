"""The reactive heuristic Tamiyo: grow early, as the best plan written in advance does, and react to what the
report measures -- cull a seed whose own training diverges or whose blend hurts, grow again after a cull or after
a jump in the validation loss (new data that needs capacity).

The seed's "reactive seed management", with every threshold stated in :class:`ReactiveConfig`. It reads only the
training report (``isolated_loss``, ``contribution``, the validation-loss history), never the event: on a task
without events it plays the grow-early plan. The hand-written heuristic of ``agents/tamiyo.py`` stays available as
``heuristic``; this one is ``reactive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from esper_env.leyline import Command, SeedStage, TrainingReport

from .base import RuleAgent


@dataclass(frozen=True)
class ReactiveConfig:
    """Every threshold of the reactive heuristic."""

    blueprint: str = "conv_residual"
    """The blueprint it grows (the best plans found grow conv_residual)."""
    max_seeds: int = 2
    """Seeds alive or kept at once; after a cull it grows again up to this many."""
    train_epochs: int = 1
    """TRAINING epochs before a seed is advanced to BLENDING."""
    diverged: float = 1.3
    """Cull a GERMINATED or TRAINING seed whose own loss (isolated_loss) is above this many times the host's
    training loss: its training diverged (a sound seed's is within a few per cent of the host's on Fast; a failed
    one's 1.4-4x after its first epoch)."""
    harm: float = 0.03
    """Cull a BLENDING seed whose contribution is below -harm (blending it costs more than 3 points of validation
    accuracy)."""
    jump: float = 0.25
    """A jump in the validation loss: above (1 + jump) times its lowest in the report's history. After one it grows a
    seed (if a slot is free), as DEN grows when the loss stays high after new data arrives."""
    slot_order: str = "last"
    """Which free slot a new seed takes: "last" (after the deepest enabled block, as the best plans) or "first"."""
    potential: float | None = None
    """Also cull a GERMINATED or TRAINING seed whose potential (validation accuracy with it at alpha 1 minus without
    it) is below -potential: a failure its own loss hides. None (the default): off (measured as a probe in
    ``benchmarks/reactive_headroom.py``)."""


@dataclass
class ReactiveTamiyo(RuleAgent):
    """Grow early, cull what diverges or hurts, grow again; see :class:`ReactiveConfig`."""

    config: ReactiveConfig = field(default_factory=ReactiveConfig)
    name: str = "reactive"

    def __post_init__(self) -> None:
        super().__init__()

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        c = self.config
        slots = report.slots
        for s in slots:  # 1. cull what diverged or hurts
            if s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING) and s.isolated_loss > c.diverged * max(
                    report.train_loss, 1e-6):
                return Command.cull(s.index), (f"its own loss {s.isolated_loss:.2f} is over {c.diverged:g}x the "
                                               f"host's {report.train_loss:.2f}: it diverged")
            if c.potential is not None and s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING) \
                    and s.potential < -c.potential:
                return Command.cull(s.index), f"at alpha 1 it would cost {-100 * s.potential:.1f} points"
            if s.stage == SeedStage.BLENDING and s.contribution < -c.harm:
                return Command.cull(s.index), f"blending it costs {-100 * s.contribution:.1f} points"
        for s in slots:  # 2. finish what is on its way
            if s.stage == SeedStage.BLENDING and s.blend_complete:
                return Command.advance(s.index), "blend complete: keep it"
            if s.stage == SeedStage.TRAINING and s.epochs_in_stage >= c.train_epochs:
                return Command.advance(s.index), f"trained {s.epochs_in_stage} epoch(s) in isolation: blend it in"
        alive = sum(s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING, SeedStage.FOSSILIZED)
                    for s in slots)
        free = [s for s in slots if s.stage == SeedStage.DORMANT]
        busy = any(s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING) for s in slots)
        if free and alive < c.max_seeds and not busy and report.budget_left > 1:  # 3. grow
            slot = free[-1] if c.slot_order == "last" else free[0]
            lowest = min(report.val_loss_history) if report.val_loss_history else report.val_loss
            why = ("the validation loss jumped: new data needs capacity" if report.val_loss > (1 + c.jump) * lowest
                   else "grow early, as the best plan does")
            return Command.germinate(slot.index, c.blueprint), why
        return Command.wait(), "nothing to do"
