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
    plateau_window: int = 3
    """Epochs over which the val-accuracy gain is averaged (validation accuracy is noisy epoch to epoch)."""
    plateau_threshold: float = 0.015
    """An epoch whose mean gain per epoch over the window is below this counts as a plateau epoch."""
    plateau_patience: int = 1
    """Germinate after this many consecutive plateau epochs."""
    blueprint_order: tuple[str, ...] = ("conv_residual", "depthwise", "attention", "lowrank", "norm")
    """Preferred blueprints, best first (blueprints the env does not allow are skipped)."""
    slot_order: tuple[int, ...] = (1, 2, 0)
    """Preferred slots, best first."""
    cull_penalty: float = 10.0
    """Added to a blueprint's rank for each time it was culled recently, so it is not re-chosen at once."""
    cull_memory_epochs: int = 8
    """How long a cull counts against its blueprint."""
    min_training_epochs: int = 2
    """A TRAINING seed is judged only after this many epochs of isolated training."""
    advance_potential: float = 0.005
    """Advance TRAINING -> BLENDING once the seed's potential (val gain at alpha 1) reaches this."""
    training_timeout: int = 5
    """Cull a TRAINING seed whose potential has not reached the threshold after this many epochs."""
    regression_tolerance: float = 0.02
    """Cull a BLENDING seed whose contribution falls below minus this (it hurts validation accuracy)."""
    max_seeds: int = 3
    """At most this many germinations per episode."""
    min_budget_left: int = 6
    """Do not germinate with fewer epochs left than this (no time to train and blend)."""


class HeuristicTamiyo(RuleAgent):
    """Germinate on plateau, advance on potential, fossilize a completed blend, cull on regression or timeout.

    Only one seed is active (germinated, training or blending) at a time.
    """

    name = "heuristic"

    def __init__(self, config: TamiyoConfig | None = None):
        super().__init__()
        self.config = config or TamiyoConfig()
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.plateau = 0
        self.val_history: list[float] = []
        self.germinated = 0
        self.culls: list[tuple[int, str]] = []  # (epoch, blueprint)
        self._last_epoch = -1

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        if report.epoch != self._last_epoch:  # count each epoch once, even if asked twice
            self._last_epoch = report.epoch
            self.observe(report.val_accuracy)
        active = [s for s in report.slots if s.stage in ACTIVE_STAGES]
        for slot in active:
            decision = self.judge(slot, report)
            if decision is not None:
                if decision[0].op.name == "CULL":
                    self.culls.append((report.epoch, slot.blueprint))
                return decision
        if active:
            return Command.wait(), f"slot {active[0].index} {active[0].stage.name.lower()}: waiting"
        return self.maybe_germinate(report)

    def observe(self, val_accuracy: float) -> None:
        """Record an epoch's val accuracy and update the plateau counter (mean gain over the window)."""
        w = self.config.plateau_window
        self.val_history.append(val_accuracy)
        if len(self.val_history) > w:
            mean_gain = (self.val_history[-1] - self.val_history[-1 - w]) / w
            self.plateau = self.plateau + 1 if mean_gain < self.config.plateau_threshold else 0

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
        if self.plateau < c.plateau_patience:
            return Command.wait(), f"improving (plateau {self.plateau}/{c.plateau_patience})"
        if self.germinated >= c.max_seeds:
            return Command.wait(), f"seed budget spent ({c.max_seeds})"
        if report.budget_left < c.min_budget_left:
            return Command.wait(), f"too late to grow ({report.budget_left} epochs left)"
        slot = next((k for k in c.slot_order if k < len(report.slots)
                     and report.slots[k].stage == SeedStage.DORMANT), None)
        blueprint = self.choose_blueprint(report)
        if slot is None or blueprint is None:
            return Command.wait(), "plateau, but no free slot or allowed blueprint"
        self.germinated += 1
        self.plateau = 0
        return Command.germinate(slot, blueprint), (f"plateau (gain < {100 * c.plateau_threshold:.1f} pts/epoch over "
                                                    f"{c.plateau_window} epochs): grow {blueprint}")

    def choose_blueprint(self, report: TrainingReport) -> str | None:
        c = self.config
        order = [b for b in c.blueprint_order if b in report.blueprints]
        order += [b for b in report.blueprints if b not in order]
        if not order:
            return None
        recent = [b for e, b in self.culls if report.epoch - e < c.cull_memory_epochs]
        return min(order, key=lambda b: order.index(b) + c.cull_penalty * recent.count(b))
