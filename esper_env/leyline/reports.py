"""Reports: what a controller reads after each epoch (frozen dataclasses)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from .commands import LAYOUT_CODEC, SlotState, legal_commands
from .lifecycle import SeedStage

HISTORY_LEN = 5
"""How many past epochs the report's histories hold."""


@dataclass(frozen=True)
class SlotReport:
    """One slot, seen at the end of an epoch. Accuracies are fractions in [0, 1]."""

    index: int
    """The slot's position: it sits after host block ``index`` (commands name it by this number)."""
    stage: SeedStage
    blueprint: str | None = None
    alpha: float = 0.0
    epochs_in_stage: int = 0
    seed_params: int = 0
    embargo_left: int = 0
    """CULLED only: decisions for which GERMINATE on this slot stays illegal (>= 1); 0 in every other stage.
    A slot whose embargo ends is DORMANT in the same report, so ``embargo_left == 0`` on a CULLED or DORMANT
    slot exactly when GERMINATE on it is legal."""
    blend_complete: bool = False
    contribution: float = 0.0
    """val accuracy with the seed at its current alpha minus with alpha forced to 0."""
    potential: float = 0.0
    """val accuracy with the seed at alpha 1 minus without it (the signal while TRAINING, alpha 0).
    Both counterfactuals normalise with batch statistics on every side: the host's running statistics
    have not seen a seed that is not yet blended in."""
    isolated_loss: float = 0.0
    """GERMINATED or TRAINING: the mean training cross-entropy of the seed's own shadow pass over the epoch just
    trained (the host with the seed at alpha 1, only the seed learning) -- how well the seed alone is learning,
    comparable with the report's train_loss; 0 in other stages. In the structured report only (not yet in the
    observation vector: a policy file records its observation version)."""

    @property
    def state(self) -> SlotState:
        return SlotState(self.stage, self.blend_complete)


@dataclass(frozen=True)
class TaskContext:
    """What describes the task an episode trains on (beyond what the report's other fields say: host
    parameters, ``max_epochs``, ``base_lr``), so a controller can act on a task it has not seen."""

    width: float = 1.0
    """Multiplier on the host preset's channel widths."""
    train_images: int = 1
    """Training images per epoch."""
    image_size: int = 32
    """Side of the images in pixels."""
    real_data: bool = False
    """Real images (CIFAR-10) rather than the procedural synthetic dataset."""
    seed_lr: float = 0.05
    """A seed's learning rate at germination."""
    blend_epochs: int = 3
    """Epochs of a seed's alpha ramp."""
    embargo_epochs: int = 2
    """Decisions a culled slot stays closed."""


@dataclass(frozen=True)
class TrainingReport:
    """What a controller observes after each epoch. Accuracies are fractions, losses are cross-entropy."""

    epoch: int
    """Epochs trained so far (0 at reset)."""
    max_epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    delta_train_accuracy: float
    delta_val_accuracy: float
    best_val_accuracy: float
    plateau_epochs: int
    """Consecutive epochs whose mean val-accuracy gain per epoch over the env's ``plateau_window`` was below
    its ``plateau_threshold``."""
    val_accuracy_history: tuple[float, ...]
    """Last :data:`HISTORY_LEN` val accuracies, oldest first (padded with the first value)."""
    val_loss_history: tuple[float, ...]
    host_params: int
    seed_params: int
    """Parameters of all seeds that are not yet fossilized (germinated, training, blending)."""
    fossilized_params: int
    lr: float
    """Host learning rate used in the epoch just trained."""
    base_lr: float
    slots: tuple[SlotReport, ...]
    """The slots this env enables, in position order (``slots[k]`` is the k-th enabled slot; its ``index`` is
    its position in the common layout, the number commands use)."""
    blueprints: tuple[str, ...]
    """Blueprints that GERMINATE may use (the enabled ones, in the config's order)."""
    seeds_germinated: int = 0
    """Seeds germinated so far in this episode."""
    epochs_since_cull: tuple[int, ...] = ()
    """Per blueprint (in ``blueprints`` order): epochs since a seed of it was last culled; -1 = never."""
    train_flops: float = 0.0
    """Cumulative training FLOPs so far: host forward + backward, shadow passes, seeds."""
    eval_flops: float = 0.0
    """Cumulative evaluation FLOPs so far: validation and counterfactual passes (not the final test pass)."""
    budget_train_flops: float = 1.0
    """Training FLOPs the bare host spends over the whole budget (the no-growth reference for compute)."""
    num_classes: int = 10
    task: TaskContext = field(default_factory=TaskContext)
    """The task's description (data, host width, learning rates, lifecycle lengths)."""

    @property
    def budget_left(self) -> int:
        return self.max_epochs - self.epoch

    @property
    def slot_states(self) -> dict[int, SlotState]:
        """Slot position -> its state, for the enabled slots (:func:`legal_commands` takes it)."""
        return {s.index: s.state for s in self.slots}

    def legal_mask(self) -> np.ndarray:
        """Which actions of the common layout are legal after this report (the env's ``action_masks()``)."""
        return legal_commands(LAYOUT_CODEC, self.slot_states, self.blueprints)

    def to_dict(self) -> dict:
        """Plain data (numbers, strings, lists, dicts) that :meth:`from_dict` turns back into the report."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> TrainingReport:
        d = dict(data)
        d["slots"] = tuple(SlotReport(**{**s, "stage": SeedStage(s["stage"])}) for s in d["slots"])
        for name in ("val_accuracy_history", "val_loss_history", "blueprints", "epochs_since_cull"):
            d[name] = tuple(d[name])
        if "task" in d:
            d["task"] = TaskContext(**d["task"])
        return cls(**d)


def plateau_epochs(previous: int, val_history: tuple[float, ...] | list[float], window: int,
                   threshold: float, epoch: int) -> int:
    """The plateau counter after an epoch: ``previous + 1`` if the mean val-accuracy gain per epoch over the
    last ``window`` epochs (fewer while ``epoch < window``) is below ``threshold``, else 0. Averaging over a
    window keeps one noisy dip or jump from deciding (validation accuracy is noisy epoch to epoch)."""
    w = max(1, min(window, epoch, len(val_history) - 1))
    mean_gain = (val_history[-1] - val_history[-1 - w]) / w
    return previous + 1 if mean_gain < threshold else 0
