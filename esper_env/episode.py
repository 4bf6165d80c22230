"""EpisodeState: the bookkeeping of one episode between two steps, typed and self-serialising.

Everything :class:`~esper_env.env.EsperEnv` remembers about an episode that is not the model, the data or a
random generator lives here: the epoch, counters, validation histories, the plateau counter, the last
report and the lifecycle history. ``to_dict`` / ``from_dict`` give the plain data a snapshot stores (the
layout of earlier snapshot files, so they still load), so reset, snapshot and restore are a few lines each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import leyline as ly

RESET_OPTIONS = {"fossilized": "a mapping {slot position: blueprint name} of seeds fossilized from the start"}
"""The keys ``reset(options=...)`` accepts, and the form of each."""


@dataclass
class Counts:
    """Commands carried out (and refused) so far."""

    germinated: int = 0
    fossilized: int = 0
    culled: int = 0
    illegal: int = 0


@dataclass
class FlopsSpent:
    """Cumulative FLOPs so far: training (host, shadow passes, seeds) and evaluation (validation and
    counterfactual passes; the final test pass is not counted)."""

    train: float = 0.0
    eval: float = 0.0


@dataclass
class EpisodeState:
    """One episode's bookkeeping (see the module docstring)."""

    seed_base: int
    """Base of the seeds that initialise germinated seeds (drawn at reset)."""
    val_hist: list[float]
    """The last :data:`~esper_env.leyline.HISTORY_LEN` validation accuracies, oldest first."""
    loss_hist: list[float]
    best: float
    """Best validation accuracy so far."""
    epoch: int = 0
    ended: bool = False
    plateau: int = 0
    germinated_at: dict[int, int] = field(default_factory=dict)
    """Model slot -> the epoch its live seed was germinated (the seed's learning-rate schedule starts there)."""
    last_cull: dict[str, int] = field(default_factory=dict)
    """Blueprint -> the epoch a seed of it was last culled."""
    counts: Counts = field(default_factory=Counts)
    flops: FlopsSpent = field(default_factory=FlopsSpent)
    history: list[ly.LifecycleEvent] = field(default_factory=list)
    """Stage changes, numbered by the model's slots (the outcome renumbers them by position)."""
    report: ly.TrainingReport | None = None
    """The report of the last epoch (of the untrained model at reset)."""

    @classmethod
    def start(cls, seed_base: int, fossilized: Mapping[int, str]) -> EpisodeState:
        """The state at reset, before the first validation pass (:meth:`first_validation` completes it)."""
        return cls(seed_base=seed_base, val_hist=[], loss_hist=[], best=0.0,
                   history=[ly.LifecycleEvent(0, k, ly.SeedStage.FOSSILIZED, b, ly.EventCause.START)
                            for k, b in fossilized.items()])

    def first_validation(self, val_loss: float, val_accuracy: float) -> None:
        """The untrained model's numbers: the histories are padded with them."""
        self.val_hist, self.loss_hist = [val_accuracy] * ly.HISTORY_LEN, [val_loss] * ly.HISTORY_LEN
        self.best = val_accuracy

    def record_command(self, command: ly.Command, stage: ly.SeedStage, blueprint: str) -> None:
        """A command carried out now, on a slot now in ``stage`` with a seed of ``blueprint``."""
        self.history.append(ly.LifecycleEvent(self.epoch, command.slot, stage, blueprint, ly.EventCause.COMMAND))
        if command.op == ly.Op.GERMINATE:
            self.germinated_at[command.slot] = self.epoch
            self.counts.germinated += 1
        elif command.op == ly.Op.CULL:
            self.counts.culled += 1
            self.last_cull[blueprint] = self.epoch
        elif stage == ly.SeedStage.FOSSILIZED:
            self.counts.fossilized += 1

    def record_epoch(self, val_loss: float, val_accuracy: float, window: int, threshold: float) -> float:
        """Update the histories, best and plateau counter with a finished epoch; return its validation gain."""
        gain = val_accuracy - self.val_hist[-1]
        self.val_hist = self.val_hist[1:] + [val_accuracy]
        self.loss_hist = self.loss_hist[1:] + [val_loss]
        self.plateau = ly.plateau_epochs(self.plateau, self.val_hist, window, threshold, self.epoch)
        self.best = max(self.best, val_accuracy)
        return gain

    def log_automatic(self, model, hook: str) -> None:
        """Run ``model``'s automatic moves before (``start_epoch``) or after (``end_epoch``) an epoch and log
        every stage they change."""
        before = [(s.stage, s.blueprint) for s in model.slots]
        getattr(model, hook)()
        when = self.epoch + (hook == "end_epoch")
        for slot, (stage, blueprint) in zip(model.slots, before):
            if slot.stage != stage:
                self.history.append(ly.LifecycleEvent(when, slot.index, slot.stage, blueprint, ly.EventCause.AUTOMATIC))

    def epochs_since_cull(self, blueprints: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.epoch - self.last_cull[b] if b in self.last_cull else -1 for b in blueprints)

    def to_dict(self) -> dict:
        """Plain data (numbers, strings, lists, dicts) for a snapshot; :meth:`from_dict` reads it back."""
        return dict(
            epoch=self.epoch, ended=self.ended, seed_base=self.seed_base,
            germinated_at={str(k): v for k, v in self.germinated_at.items()}, last_cull=dict(self.last_cull),
            counts=vars(self.counts).copy(), flops=vars(self.flops).copy(), val_hist=list(self.val_hist),
            loss_hist=list(self.loss_hist), best=self.best, plateau=self.plateau, report=self.report.to_dict(),
            history=[dict(epoch=e.epoch, slot=e.slot, stage=int(e.stage), blueprint=e.blueprint, cause=e.cause.value)
                     for e in self.history])

    @classmethod
    def from_dict(cls, d: Mapping) -> EpisodeState:
        return cls(
            epoch=d["epoch"], ended=d["ended"], seed_base=d["seed_base"],
            germinated_at={int(k): v for k, v in d["germinated_at"].items()}, last_cull=dict(d["last_cull"]),
            counts=Counts(**d["counts"]), flops=FlopsSpent(**d["flops"]), val_hist=list(d["val_hist"]),
            loss_hist=list(d["loss_hist"]), best=d["best"], plateau=d["plateau"],
            report=ly.TrainingReport.from_dict(d["report"]),
            history=[ly.LifecycleEvent(e["epoch"], e["slot"], ly.SeedStage(e["stage"]), e["blueprint"],
                                       ly.EventCause(e["cause"])) for e in d["history"]])


def check_reset_options(options: object, positions: tuple[int, ...], blueprints: tuple[str, ...]) -> dict[int, str]:
    """The fossilized-at-start architecture from ``reset(options=...)`` as {slot position: blueprint}, checked
    against the enabled ``positions`` and ``blueprints`` (one clear error otherwise)."""
    if options is None:
        return {}
    forms = "; ".join(f"{k!r}: {v}" for k, v in RESET_OPTIONS.items())
    if not isinstance(options, Mapping):
        raise ValueError(f"reset(options=...) must be a dict or None, got {type(options).__name__} ({forms})")
    unknown = sorted(set(options) - set(RESET_OPTIONS), key=str)
    if unknown:
        raise ValueError(f"reset(options=...) got unknown key(s) {unknown}; allowed: {forms}")
    fossilized = options.get("fossilized") or {}
    if not isinstance(fossilized, Mapping):
        raise ValueError(f"options['fossilized'] must be {RESET_OPTIONS['fossilized']}, got {fossilized!r}")
    out = {}
    for k, b in fossilized.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer, str)) or not str(k).isdigit() \
                or int(k) not in positions:
            raise ValueError(f"options['fossilized'] has slot {k!r}; this env's slot positions are "
                             f"{', '.join(map(str, positions))}")
        if b not in blueprints:
            raise ValueError(f"options['fossilized'][{k!r}] = {b!r} is not an allowed blueprint; "
                             f"choose from {', '.join(blueprints)}")
        out[int(k)] = str(b)
    return out
