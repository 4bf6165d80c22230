"""Heuristic Tamiyo: the hand-written controller, one rule per decision, each with a reason string."""

from __future__ import annotations

from dataclasses import dataclass

from esper_env.leyline import ACTIVE_STAGES, Command, SeedStage, SlotReport, TrainingReport

from .base import RuleAgent


@dataclass
class TamiyoConfig:
    """Every threshold of the heuristic. Accuracies are fractions (0.005 = half a point)."""

    warmup_epochs: int = 3
    """No germination before this many epochs have been trained."""
    plateau_patience: int = 1
    """Germinate after this many consecutive plateau epochs (the report's ``plateau_epochs``, as the env
    defines them with its ``plateau_window`` and ``plateau_threshold``)."""
    blueprint_order: tuple[str, ...] = ("conv_residual", "depthwise", "attention", "lowrank", "norm")
    """Preferred blueprints, best first (blueprints the env does not allow are skipped)."""
    slot_order: tuple[int, ...] = (1, 2, 0)
    """Preferred slots, best first, as ranks among the slots the env enables (0 = the earliest enabled
    position): with all three positions that is after blocks 1, 2, 0; on ``Esper-Fast-v0`` (positions 1, 2)
    rank 1 is after block 2."""
    cull_penalty: float = 10.0
    """Added to a blueprint's rank when it was culled recently, so it is not re-chosen at once."""
    cull_memory_epochs: int = 8
    """How long a cull counts against its blueprint (the report's ``epochs_since_cull``)."""
    min_training_epochs: int = 1
    """A TRAINING seed is judged only after this many TRAINING epochs (plus its GERMINATED epoch, which also
    trains in isolation)."""
    advance_potential: float = 0.005
    """Advance TRAINING -> BLENDING once the seed's potential (val gain at alpha 1) reaches this."""
    training_timeout: int = 4
    """Cull a TRAINING seed whose potential has not reached the threshold after this many TRAINING epochs."""
    regression_tolerance: float = 0.02
    """Cull a BLENDING seed whose contribution falls below minus this (it hurts validation accuracy)."""
    max_seeds: int = 3
    """At most this many germinations per episode."""
    min_budget_left: int = 6
    """Do not germinate with fewer epochs left than this (no time to train and blend)."""


class HeuristicTamiyo(RuleAgent):
    """Germinate on plateau, advance on potential, fossilize a completed blend, cull on regression or timeout.

    Only one seed is active (germinated, training or blending) at a time. Every decision is a function of
    the current report alone (no hidden state), so a learned policy can imitate it from observations.
    """

    name = "heuristic"

    def __init__(self, config: TamiyoConfig | None = None):
        super().__init__()
        self.config = config or TamiyoConfig()

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        active = [s for s in report.slots if s.stage in ACTIVE_STAGES]
        for slot in active:
            decision = self.judge(slot, report)
            if decision is not None:
                return decision
        if active:
            return Command.wait(), f"slot {active[0].index} {active[0].stage.name.lower()}: waiting"
        return self.maybe_germinate(report)

    def judge(self, slot: SlotReport, report: TrainingReport) -> tuple[Command, str] | None:
        """The rule for one active seed, or None to leave it be."""
        c = self.config
        if slot.stage == SeedStage.TRAINING and slot.epochs_in_stage >= c.min_training_epochs:
            if slot.potential >= c.advance_potential:
                return Command.advance(slot.index), (f"potential {100 * slot.potential:+.1f} pts after "
                                                     f"{slot.epochs_in_stage} epochs: blend")
            if slot.epochs_in_stage >= c.training_timeout:
                return Command.cull(slot.index), (f"timeout: potential {100 * slot.potential:+.1f} pts after "
                                                  f"{slot.epochs_in_stage} epochs")
        if slot.stage == SeedStage.BLENDING:
            if slot.contribution < -c.regression_tolerance:
                return Command.cull(slot.index), f"regression: contribution {100 * slot.contribution:+.1f} pts"
            if slot.blend_complete:
                return Command.advance(slot.index), (f"blend complete, contribution "
                                                     f"{100 * slot.contribution:+.1f} pts: fossilize")
        return None

    def maybe_germinate(self, report: TrainingReport) -> tuple[Command, str]:
        c = self.config
        if report.epoch < c.warmup_epochs:
            return Command.wait(), f"warm-up ({report.epoch}/{c.warmup_epochs})"
        if report.plateau_epochs < c.plateau_patience:
            return Command.wait(), f"improving (plateau {report.plateau_epochs}/{c.plateau_patience})"
        if report.seeds_germinated >= c.max_seeds:
            return Command.wait(), f"seed budget spent ({c.max_seeds})"
        if report.budget_left < c.min_budget_left:
            return Command.wait(), f"too late to grow ({report.budget_left} epochs left)"
        slot = next((report.slots[k].index for k in c.slot_order if k < len(report.slots)
                     and report.slots[k].stage == SeedStage.DORMANT), None)
        blueprint = self.choose_blueprint(report)
        if slot is None or blueprint is None:
            return Command.wait(), "plateau, but no free slot or allowed blueprint"
        return Command.germinate(slot, blueprint), (f"plateau for {report.plateau_epochs} epoch(s): grow {blueprint}")

    def choose_blueprint(self, report: TrainingReport) -> str | None:
        c = self.config
        order = [b for b in c.blueprint_order if b in report.blueprints]
        order += [b for b in report.blueprints if b not in order]
        if not order:
            return None
        since = dict(zip(report.blueprints, report.epochs_since_cull))
        recent = {b for b, e in since.items() if 0 <= e < c.cull_memory_epochs}
        return min(order, key=lambda b: order.index(b) + c.cull_penalty * (b in recent))
