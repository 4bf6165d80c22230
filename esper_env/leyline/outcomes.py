"""What an episode leaves behind: lifecycle events and the outcome."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass

from .lifecycle import SeedStage


class EventCause(str, enum.Enum):
    """Why a slot changed stage."""

    COMMAND = "command"
    """A Tamiyo command (GERMINATE, ADVANCE, CULL)."""
    AUTOMATIC = "automatic"
    """The clock: GERMINATED -> TRAINING after one epoch, CULLED -> DORMANT when the embargo ends."""
    START = "start"
    """Fossilized before the first epoch (``reset(options={"fossilized": ...})``)."""


@dataclass(frozen=True)
class LifecycleEvent:
    """One stage change of one slot."""

    epoch: int
    """Epochs trained when it happened (a command given after report ``e`` has ``epoch == e``)."""
    slot: int
    stage: SeedStage
    """The stage the slot entered."""
    blueprint: str | None
    cause: EventCause

    @property
    def label(self) -> str:
        """Short name for logs and plots: ``germinate``, ``blending``, ``cull``, ``fossilized at start``..."""
        if self.cause == EventCause.START:
            return "fossilized at start"
        if self.cause == EventCause.COMMAND and self.stage == SeedStage.GERMINATED:
            return "germinate"
        if self.cause == EventCause.COMMAND and self.stage == SeedStage.CULLED:
            return "cull"
        return self.stage.name.lower()


@dataclass(frozen=True)
class SeedOutcome:
    """A seed still present at the end of an episode."""

    slot: int
    blueprint: str
    stage: SeedStage
    alpha: float


@dataclass(frozen=True)
class EpisodeOutcome:
    """The result of one episode (``info["final"]`` at its last step). Accuracies are fractions."""

    test_accuracy: float
    """On the test split, evaluated once, at the end (0 if the run diverged)."""
    test_loss: float
    val_accuracy: float
    best_val_accuracy: float
    epochs: int
    """Epochs trained (``max_epochs`` unless a non-finite loss ended the episode early)."""
    nonfinite: bool
    host_params: int
    seed_params: int
    """Parameters of seeds still alive but not fossilized."""
    fossilized_params: int
    total_params: int
    flops_per_image: int
    """Inference FLOPs of one image through the final model at its final alphas."""
    train_flops: float
    """Training FLOPs spent over the episode: host forward + backward, shadow passes, seeds."""
    eval_flops: float
    """Validation and counterfactual FLOPs over the episode (the final test pass excluded)."""
    seeds_germinated: int
    seeds_fossilized: int
    seeds_culled: int
    illegal_commands: int
    architecture: tuple[tuple[int, str], ...]
    """(slot, blueprint) of every fossilized seed: the final architecture."""
    live_seeds: tuple[SeedOutcome, ...]
    """Seeds present at the end that are not fossilized (still germinated, training or blending)."""
    history: tuple[LifecycleEvent, ...]
    old_test_accuracy: float | None = None
    """Where the data changed mid-episode (a domain shift): accuracy on the test set of the data as it was at the
    start (forgetting); None otherwise."""

    @property
    def added_params(self) -> int:
        return self.total_params - self.host_params

    def summary(self) -> dict[str, float]:
        """Flat numbers for TensorBoard and tables (``esper/<name>`` in :class:`agents.callbacks`)."""
        return {
            "final_test_accuracy": self.test_accuracy, "final_val_accuracy": self.val_accuracy,
            "best_val_accuracy": self.best_val_accuracy, "seeds_germinated": self.seeds_germinated,
            "seeds_fossilized": self.seeds_fossilized, "seeds_culled": self.seeds_culled,
            "illegal_commands": self.illegal_commands, "added_params": self.added_params,
            "total_params": self.total_params, "flops_per_image": self.flops_per_image,
            "train_flops": self.train_flops, "eval_flops": self.eval_flops,
        }

    def to_dict(self) -> dict:
        """Plain data for JSON records (stages by name); :meth:`from_dict` reads it back."""
        d = json.loads(json.dumps(asdict(self), default=str))
        for s in d["live_seeds"]:
            s["stage"] = SeedStage(s["stage"]).name
        for e in d["history"]:
            e["stage"] = SeedStage(e["stage"]).name
        if d["old_test_accuracy"] is None:  # written only where the data changed (records stay as they were)
            del d["old_test_accuracy"]
        return d

    @classmethod
    def from_dict(cls, data: dict) -> EpisodeOutcome:
        d = dict(data)
        d["architecture"] = tuple((int(k), str(b)) for k, b in d["architecture"])
        d["live_seeds"] = tuple(SeedOutcome(s["slot"], s["blueprint"], SeedStage[s["stage"]], s["alpha"])
                                for s in d["live_seeds"])
        d["history"] = tuple(LifecycleEvent(e["epoch"], e["slot"], SeedStage[e["stage"]], e["blueprint"],
                                            EventCause(e["cause"])) for e in d["history"])
        return cls(**d)
