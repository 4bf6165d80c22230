"""What the environment tells a controller: counterfactual measures, the epoch's report, the episode's outcome.

Functions of the model, the episode's bookkeeping (:class:`~esper_env.episode.EpisodeState`) and the
config; they read the model and change nothing but the FLOPs the state counts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from . import leyline as ly
from .config import EsperConfig
from .data import DeviceLoader
from .episode import EpisodeState
from .kasmina import MorphogeneticModel, flops
from .training import EpochStats, evaluate_variants


@dataclass(frozen=True)
class EpochNumbers:
    """The losses and accuracies of the epoch a report describes."""

    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    delta_val_accuracy: float
    prev_train_accuracy: float
    lr: float
    isolated: dict[int, float] = field(default_factory=dict)
    """Model slot index -> its isolated seed's mean shadow-pass loss over the epoch (EpochStats.isolated)."""


def bare_host_epoch_flops(config: EsperConfig) -> float:
    """Training FLOPs of one epoch of the bare host (no seeds) of ``config``: the unit compute-matched
    comparisons count in (the report's ``budget_train_flops`` is this times ``max_epochs``)."""
    from .kasmina import host_widths

    model = MorphogeneticModel(host_widths(config.host, config.width), **config.model_settings())
    n = config.train_images
    samples = min(max(n // config.batch_size, 1) * config.batch_size, n)  # training drops a ragged batch
    return float(flops.bare_host_training(model) * samples)


def rent(model: MorphogeneticModel, config: EsperConfig) -> float:
    """The reward's cost of growth this epoch: ``rent_coef`` x (seed + fossilized params) / host params / max_epochs."""
    added = model.seed_params() + model.fossilized_params
    return config.rent_coef * added / model.host_params / config.max_epochs


def counterfactuals(model: MorphogeneticModel, loader: DeviceLoader, precision: str,
                    state: EpisodeState) -> list[tuple[float, float]]:
    """(contribution, potential) of each slot's seed on the validation split, measured with batch statistics
    on every side (see :func:`esper_env.training.evaluate`): current alphas, each seed at alpha 0 and at
    alpha 1 -- one pass over the data that shares the network's common prefix. Its FLOPs go to ``state``."""
    if all(s.seed is None for s in model.slots):
        return [(0.0, 0.0)] * len(model.slots)
    variants: list[dict[int, float]] = [{}]
    index: dict[tuple[int, float], int] = {}
    for slot in model.slots:
        for a in (0.0, 1.0):
            if slot.seed is not None and slot.alpha != a:
                index[slot.index, a] = len(variants)
                variants.append({slot.index: a})
    state.flops.eval += flops.variants(model, variants) * loader.samples_per_epoch
    accs = [r.accuracy for r in evaluate_variants(model, loader, precision, variants, batch_stats=True)]
    out = []
    for slot in model.slots:
        if slot.seed is None:
            out.append((0.0, 0.0))
            continue
        without, full = (accs[index.get((slot.index, a), 0)] for a in (0.0, 1.0))
        out.append((accs[0] - without, full - without))
    return out


def task_context(config: EsperConfig) -> ly.TaskContext:
    """The report's description of the task ``config`` trains on."""
    return ly.TaskContext(width=float(config.width), train_images=config.train_images, image_size=config.image_size,
                          real_data=config.dataset == "cifar10", seed_lr=config.seed_lr,
                          blend_epochs=config.blend_epochs, embargo_epochs=config.embargo_epochs)


def context_report(config: EsperConfig) -> ly.TrainingReport:
    """A report of ``config``'s task at epoch 0 with every training signal zero and every slot DORMANT: what
    the observation's task-describing entries (``task_*``, ``*_enabled``) read for it."""
    from .kasmina import host_widths

    host = MorphogeneticModel(host_widths(config.host, config.width), **config.model_settings()).host_params
    return ly.TrainingReport(
        epoch=0, max_epochs=config.max_epochs, train_loss=0.0, train_accuracy=0.0, val_loss=0.0, val_accuracy=0.0,
        delta_train_accuracy=0.0, delta_val_accuracy=0.0, best_val_accuracy=0.0, plateau_epochs=0,
        val_accuracy_history=(0.0,) * ly.HISTORY_LEN, val_loss_history=(0.0,) * ly.HISTORY_LEN, host_params=host,
        seed_params=0, fossilized_params=0, lr=config.lr, base_lr=config.lr,
        slots=tuple(ly.SlotReport(index=p, stage=ly.SeedStage.DORMANT) for p in config.slots),
        blueprints=config.blueprints, epochs_since_cull=(-1,) * len(config.blueprints), task=task_context(config))


def build_report(model: MorphogeneticModel, state: EpisodeState, config: EsperConfig, n: EpochNumbers,
                 measures: list[tuple[float, float]], budget_train_flops: float) -> ly.TrainingReport:
    """The Leyline report of the epoch just trained (``measures``: :func:`counterfactuals`, or zeros)."""
    slots = tuple(ly.SlotReport(
        index=config.slots[slot.index],  # the model numbers only its slots; reports number positions
        stage=slot.stage, blueprint=slot.blueprint, alpha=slot.alpha,
        epochs_in_stage=slot.epochs_in_stage, seed_params=slot.param_count, embargo_left=slot.embargo_left,
        blend_complete=slot.blend_complete, contribution=contribution, potential=potential,
        isolated_loss=n.isolated.get(slot.index, 0.0))
        for slot, (contribution, potential) in zip(model.slots, measures))
    return ly.TrainingReport(
        epoch=state.epoch, max_epochs=config.max_epochs, train_loss=n.train_loss, train_accuracy=n.train_accuracy,
        val_loss=n.val_loss, val_accuracy=n.val_accuracy,
        delta_train_accuracy=n.train_accuracy - n.prev_train_accuracy, delta_val_accuracy=n.delta_val_accuracy,
        best_val_accuracy=state.best, plateau_epochs=state.plateau, val_accuracy_history=tuple(state.val_hist),
        val_loss_history=tuple(state.loss_hist), host_params=model.host_params, seed_params=model.seed_params(),
        fossilized_params=model.fossilized_params, lr=n.lr, base_lr=config.lr, slots=slots,
        blueprints=config.blueprints, seeds_germinated=state.counts.germinated,
        epochs_since_cull=state.epochs_since_cull(config.blueprints), train_flops=state.flops.train,
        eval_flops=state.flops.eval, budget_train_flops=budget_train_flops, task=task_context(config))


def build_outcome(model: MorphogeneticModel, state: EpisodeState, config: EsperConfig, test: EpochStats,
                  nonfinite: bool, old_test: EpochStats | None = None) -> ly.EpisodeOutcome:
    """The episode's :class:`~esper_env.leyline.EpisodeOutcome` from its final test pass (and one on the data as it
    was at the start, where it changed) and bookkeeping (slots numbered by position)."""
    m, c = model, state.counts
    pos = config.slots
    return ly.EpisodeOutcome(
        test_accuracy=test.accuracy if math.isfinite(test.loss) else 0.0, test_loss=test.loss,
        val_accuracy=state.report.val_accuracy, best_val_accuracy=state.report.best_val_accuracy,
        epochs=state.epoch, nonfinite=nonfinite, host_params=m.host_params, seed_params=m.seed_params(),
        fossilized_params=m.fossilized_params, total_params=m.total_params, flops_per_image=m.flops_per_image(),
        train_flops=state.flops.train, eval_flops=state.flops.eval, seeds_germinated=c.germinated,
        seeds_fossilized=c.fossilized, seeds_culled=c.culled, illegal_commands=c.illegal,
        architecture=tuple((pos[s.index], s.blueprint) for s in m.slots if s.stage == ly.SeedStage.FOSSILIZED),
        live_seeds=tuple(ly.SeedOutcome(pos[s.index], s.blueprint, s.stage, s.alpha) for s in m.slots
                         if s.seed is not None and s.stage != ly.SeedStage.FOSSILIZED),
        history=tuple(dataclasses.replace(e, slot=pos[e.slot]) for e in state.history),
        old_test_accuracy=None if old_test is None else (old_test.accuracy if math.isfinite(old_test.loss) else 0.0))
