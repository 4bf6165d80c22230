"""The observation: the one versioned function from a report to the vector (:func:`report_to_vector`),
and the schema recorded with saved policies and datasets (:class:`ObservationSchema`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .commands import LAYOUT_BLUEPRINTS, LAYOUT_CODEC, SLOT_POSITIONS
from .lifecycle import SeedStage
from .reports import HISTORY_LEN, SlotReport, TrainingReport

OBS_VERSION = 5
"""Bumped whenever :func:`report_to_vector` changes meaning; saved policies record it.
2: GERMINATED observable, embargo semantics, seeds germinated, epochs since cull, training compute.
3: each slot's contribution and potential also on a fine (symmetric-log) scale.
4: the common layout (all :data:`SLOT_POSITIONS` positions and :data:`LAYOUT_BLUEPRINTS` in every env, with
   ``*_enabled`` flags) and the task context (``task_*`` entries).
5: each slot's ``isolated_loss`` (how well a seed in isolation learns: where a failed seed shows), *appended*: the
   first entries are version 4's, so a version-4 policy reads them (:meth:`ObservationSchema.reads_prefix_of`)."""

APPENDED = {5: tuple(f"slot{p}_isolated_loss" for p in range(SLOT_POSITIONS))}
"""Entries appended at the end of the vector by each version since 4 (the earlier entries keep their meaning)."""

FINE_SCALE = 1000.0
""":func:`symlog`'s resolution: an accuracy difference of 1/FINE_SCALE (0.1 point) is ~0.1 of the range."""

SLOT_ENTRIES = ("enabled", *[f"stage_{st.name.lower()}" for st in SeedStage],
                *[f"bp_{b}" for b in LAYOUT_BLUEPRINTS], "alpha", "epochs_in_stage", "params_ratio", "embargo",
                "blend_complete", "contribution", "potential", "contribution_fine", "potential_fine")
"""The entries of one slot position, ``slot{p}_<entry>``. A position the env does not enable reads as all
zeros (``enabled`` 0, no stage)."""

TASK_ENTRIES = {
    "task_log_host_params": "log10(host parameters) / 7 (6k -> 0.54, 1.2M -> 0.87)",
    "task_log_width": "log2(width multiplier) / 3 (1x -> 0, 4x -> 0.67)",
    "task_log_train_images": "log10(training images per epoch) / 5 (1.5k -> 0.64, 45k -> 0.93)",
    "task_image_size": "image side / 32",
    "task_real_data": "1 for real images (CIFAR-10), 0 for the synthetic dataset",
    "task_max_epochs": "max_epochs / 100",
    "task_log_lr": "(log10(host lr at epoch 0) + 4) / 4 (0.05 -> 0.67)",
    "task_log_seed_lr": "(log10(seed lr) + 4) / 4",
    "task_blend_epochs": "blend_epochs / 10",
    "task_embargo_epochs": "embargo_epochs / 10",
}
"""The task-context entries and how each is normalised (clipped to [-1, 1] like every entry)."""


def symlog(x: float, scale: float = FINE_SCALE) -> float:
    """``sign(x) * log1p(scale |x|) / log1p(scale)``: resolves differences of a fraction of a point near 0
    (where decisions are made: 0.5 point of potential maps to ~0.26) and still spans +-100%."""
    if not math.isfinite(x):
        return 0.0
    return math.copysign(math.log1p(scale * abs(x)) / math.log1p(scale), x)


def observation_fields() -> list[str]:
    """Names of the entries of :func:`report_to_vector` (the same in every env), for logging and inspection."""
    return [
        "progress", "budget_left", "train_loss", "val_loss", "train_acc", "val_acc",
        "d_train_acc", "d_val_acc", "best_val_acc", "val_acc_minus_best", "plateau",
        *[f"d_val_acc_hist{i}" for i in range(HISTORY_LEN - 1)],
        *[f"val_loss_hist{i}" for i in range(HISTORY_LEN)],
        "seed_params_ratio", "fossilized_params_ratio", "lr_ratio", "seeds_germinated", "train_compute",
        *TASK_ENTRIES,
        *[f"bp_{b}_enabled" for b in LAYOUT_BLUEPRINTS],
        *[f"bp_{b}_since_cull" for b in LAYOUT_BLUEPRINTS],
        *[f"slot{p}_{e}" for p in range(SLOT_POSITIONS) for e in SLOT_ENTRIES],
        *APPENDED[5],
    ]


def _loss(x: float, num_classes: int) -> float:
    # Cross-entropy scaled so chance level is 1; a diverged (nan/inf) loss maps to the bound.
    return 2.0 if not math.isfinite(x) else x / math.log(num_classes)


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else -10.0


def _task_vector(report: TrainingReport) -> list[float]:
    t = report.task
    return [_log10(report.host_params) / 7, math.log2(t.width) / 3 if t.width > 0 else -1.0,
            _log10(t.train_images) / 5, t.image_size / 32, float(t.real_data), report.max_epochs / 100,
            (_log10(report.base_lr) + 4) / 4, (_log10(t.seed_lr) + 4) / 4, t.blend_epochs / 10,
            t.embargo_epochs / 10]


def _slot_vector(slot: SlotReport | None, T: int, host: int) -> list[float]:
    if slot is None:  # a position this env does not enable: absent
        return [0.0] * len(SLOT_ENTRIES)
    return [1.0, *[float(slot.stage == st) for st in SeedStage],
            *[float(slot.blueprint == b) for b in LAYOUT_BLUEPRINTS],
            slot.alpha, slot.epochs_in_stage / T, slot.seed_params / host / 4, slot.embargo_left / T,
            float(slot.blend_complete), 10 * slot.contribution, 10 * slot.potential, symlog(slot.contribution),
            symlog(slot.potential)]


def _isolated(slot: SlotReport | None, num_classes: int) -> float:
    # the seed's own training loss (GERMINATED / TRAINING), scaled as the host's losses; 0 in other stages
    if slot is None or slot.stage not in (SeedStage.GERMINATED, SeedStage.TRAINING):
        return 0.0
    return _loss(slot.isolated_loss, num_classes) / 2


def report_to_vector(report: TrainingReport) -> np.ndarray:
    """Observation vector (version :data:`OBS_VERSION`): float32, every entry clipped to [-1, 1], the same
    entries in every env (the common layout).

    Fractions stay as they are; epoch counts are divided by ``max_epochs``; losses by ``ln(classes)``
    then halved; accuracy deltas, contributions and potentials are scaled by 10 (so a 10-point change
    spans the range); parameter ratios are relative to the host and divided by 4; training compute is
    relative to the bare host's budget and halved; "epochs since cull" is 1 for never (and for a blueprint the
    env does not enable); contribution and potential also appear on a fine scale (:func:`symlog`), where
    fractions of a point are visible. The task context is normalised as :data:`TASK_ENTRIES` says. Each slot
    position reads as :data:`SLOT_ENTRIES` (stages and blueprints one-hot), all zeros where the env has no slot;
    then each position's ``isolated_loss`` (scaled as the host's losses; 0 unless its seed is GERMINATED or TRAINING).
    :func:`observation_fields` names every entry.
    """
    T = max(report.max_epochs, 1)
    host = max(report.host_params, 1)
    k = report.num_classes
    acc_hist = report.val_accuracy_history
    since = dict(zip(report.blueprints, report.epochs_since_cull or (-1,) * len(report.blueprints)))
    by_position = {s.index: s for s in report.slots}
    v = [
        report.epoch / T, report.budget_left / T,
        _loss(report.train_loss, k) / 2, _loss(report.val_loss, k) / 2,
        report.train_accuracy, report.val_accuracy,
        10 * report.delta_train_accuracy, 10 * report.delta_val_accuracy,
        report.best_val_accuracy, 10 * (report.val_accuracy - report.best_val_accuracy),
        report.plateau_epochs / T,
        *[10 * (b - a) for a, b in zip(acc_hist[:-1], acc_hist[1:])],
        *[_loss(x, k) / 2 for x in report.val_loss_history],
        report.seed_params / host / 4, report.fossilized_params / host / 4,
        report.lr / report.base_lr if report.base_lr > 0 else 0.0,
        report.seeds_germinated / T, report.train_flops / max(report.budget_train_flops, 1.0) / 2,
        *_task_vector(report),
        *[float(b in since) for b in LAYOUT_BLUEPRINTS],
        *[1.0 if since.get(b, -1) < 0 else since[b] / T for b in LAYOUT_BLUEPRINTS],
    ]
    for p in range(SLOT_POSITIONS):
        v += _slot_vector(by_position.get(p), T, host)
    v += [_isolated(by_position.get(p), k) for p in range(SLOT_POSITIONS)]
    out = np.nan_to_num(np.asarray(v, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(out, -1.0, 1.0)


# --------------------------------------------------------------------------------------------------
# Observation schema (recorded with saved policies and datasets)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObservationSchema:
    """What a policy was trained on: the observation version, the names of its entries, and the actions."""

    obs_version: int
    fields: tuple[str, ...]
    """:func:`observation_fields`, in vector order."""
    actions: tuple[str, ...]
    """The action codec: ``str(command)`` for each action index."""

    @classmethod
    def build(cls) -> ObservationSchema:
        """The common layout's schema (every registered env's)."""
        return cls(OBS_VERSION, tuple(observation_fields()), tuple(str(c) for c in LAYOUT_CODEC.commands))

    def to_dict(self) -> dict:
        return {"obs_version": self.obs_version, "fields": list(self.fields), "actions": list(self.actions)}

    @classmethod
    def from_dict(cls, data: dict) -> ObservationSchema:
        try:
            return cls(int(data["obs_version"]), tuple(str(f) for f in data["fields"]),
                       tuple(str(a) for a in data["actions"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed observation schema ({e!r}): expected obs_version, fields, actions") from None

    def reads_prefix_of(self, current: ObservationSchema) -> bool:
        """Whether a policy recorded with this schema can play ``current`` by reading the first entries of its
        vector: the same actions, and ``current`` only appends entries (:data:`APPENDED`) to this one's."""
        n = len(self.fields)
        return (self.actions == current.actions and self.obs_version >= 4 and n < len(current.fields)
                and current.fields[:n] == self.fields)

    def differences(self, other: ObservationSchema) -> list[str]:
        """Human-readable differences, ``self`` being the recorded one and ``other`` the current one."""
        out = []
        if self.obs_version != other.obs_version:
            out.append(f"observation version {self.obs_version} (recorded) vs {other.obs_version} (this env)")
        if self.fields != other.fields:
            extra = [f for f in self.fields if f not in other.fields]
            missing = [f for f in other.fields if f not in self.fields]
            out.append(f"observation fields: {len(self.fields)} recorded vs {len(other.fields)} in this env"
                       + (f"; only recorded: {extra[:4]}" if extra else "")
                       + (f"; only in this env: {missing[:4]}" if missing else "")
                       + ("; same names, other order" if not extra and not missing else ""))
        if self.actions != other.actions:
            out.append(f"actions: Discrete({len(self.actions)}) recorded vs Discrete({len(other.actions)}) in this "
                       f"env" + ("" if len(self.actions) != len(other.actions) else " (other commands)"))
        return out


LAYOUT_SCHEMA = ObservationSchema.build()
"""The common layout's schema, built once (every registered env's; what a saved policy is checked against)."""
