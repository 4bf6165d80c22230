"""Leyline: the contracts every part of Esper speaks.

* :class:`SeedStage` and the table of legal lifecycle transitions (:func:`check_transition`).
* Commands as data (:class:`Command`), the :class:`ActionCodec` between commands and the integers of a
  flat ``Discrete`` action space, and :func:`legal_commands`.
* Reports as frozen dataclasses (:class:`SlotReport`, :class:`TrainingReport`) and the one versioned
  function that turns a report into the observation vector (:func:`report_to_vector`), in the *common
  layout* every env shares: :data:`SLOT_POSITIONS` slot positions x :data:`LAYOUT_BLUEPRINTS`, with the task's
  context (:class:`TaskContext`).
* What an episode leaves behind: :class:`LifecycleEvent` and :class:`EpisodeOutcome`.
* :class:`ObservationSchema`: the observation's version, entry names and action codec, recorded with every
  saved policy or dataset so that one built for other spaces is refused.

This module imports nothing from the rest of the project: arrows point *to* it, never from it.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

# --------------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------------


class SeedStage(enum.IntEnum):
    """Stage of one seed slot."""

    DORMANT = 0
    """Empty slot; a seed may be germinated here."""
    GERMINATED = 1
    """The seed's first epoch: created and already training in isolation; TRAINING from the next epoch."""
    TRAINING = 2
    """The seed trains in isolation: the host's outputs and gradients are unaffected."""
    BLENDING = 3
    """The seed is blended in: output = host + alpha * seed, alpha ramping 0 -> 1."""
    FOSSILIZED = 4
    """The seed is permanently part of the host (alpha = 1)."""
    CULLED = 5
    """The seed was removed; the slot is under embargo before it returns to DORMANT."""


LEGAL_TRANSITIONS: dict[SeedStage, frozenset[SeedStage]] = {
    SeedStage.DORMANT: frozenset({SeedStage.GERMINATED}),
    SeedStage.GERMINATED: frozenset({SeedStage.TRAINING, SeedStage.CULLED}),
    SeedStage.TRAINING: frozenset({SeedStage.BLENDING, SeedStage.CULLED}),
    SeedStage.BLENDING: frozenset({SeedStage.FOSSILIZED, SeedStage.CULLED}),
    SeedStage.FOSSILIZED: frozenset(),
    SeedStage.CULLED: frozenset({SeedStage.DORMANT}),
}
"""Every legal ``from -> to`` move. Anything else raises :class:`IllegalTransitionError`."""

ACTIVE_STAGES = frozenset({SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING})
"""Stages in which a seed is alive but not yet permanent."""


class IllegalTransitionError(ValueError):
    """A lifecycle move that :data:`LEGAL_TRANSITIONS` does not allow."""


class IllegalCommandError(ValueError):
    """A command that is well formed but not legal in the current state."""


def check_transition(current: SeedStage, target: SeedStage) -> SeedStage:
    """Return ``target`` if ``current -> target`` is legal; raise otherwise (never fail silently)."""
    if target not in LEGAL_TRANSITIONS[SeedStage(current)]:
        allowed = ", ".join(s.name for s in sorted(LEGAL_TRANSITIONS[current])) or "nothing"
        raise IllegalTransitionError(
            f"illegal seed transition {SeedStage(current).name} -> {SeedStage(target).name} "
            f"(from {SeedStage(current).name} only {allowed} is allowed)"
        )
    return SeedStage(target)


# --------------------------------------------------------------------------------------------------
# Commands and the action codec
# --------------------------------------------------------------------------------------------------


SLOT_POSITIONS = 3
"""Slot positions of the common layout: position ``p`` sits after host block ``p``. Every env has all three in
its action and observation spaces; a config enables some of them (``EsperConfig.slots``)."""

LAYOUT_BLUEPRINTS = ("conv_residual", "attention", "norm", "depthwise", "lowrank")
"""Blueprints of the common layout, in action order; a config enables some of them (``EsperConfig.blueprints``)."""


class Op(enum.IntEnum):
    """What a command does."""

    WAIT = 0
    GERMINATE = 1
    ADVANCE = 2
    CULL = 3


@dataclass(frozen=True)
class Command:
    """One Tamiyo command. ``slot`` is None only for WAIT; ``blueprint`` is set only for GERMINATE."""

    op: Op
    slot: int | None = None
    blueprint: str | None = None

    def __post_init__(self) -> None:
        if (self.op == Op.WAIT) != (self.slot is None):
            raise ValueError(f"{self.op.name} takes {'no slot' if self.op == Op.WAIT else 'a slot'}")
        if (self.op == Op.GERMINATE) != (self.blueprint is not None):
            raise ValueError("a blueprint is given with GERMINATE and only with GERMINATE")

    def __str__(self) -> str:
        if self.op == Op.WAIT:
            return "WAIT"
        if self.op == Op.GERMINATE:
            return f"GERMINATE(slot={self.slot}, {self.blueprint})"
        return f"{self.op.name}(slot={self.slot})"

    @staticmethod
    def wait() -> Command:
        return Command(Op.WAIT)

    @staticmethod
    def germinate(slot: int, blueprint: str) -> Command:
        return Command(Op.GERMINATE, slot, blueprint)

    @staticmethod
    def advance(slot: int) -> Command:
        return Command(Op.ADVANCE, slot)

    @staticmethod
    def cull(slot: int) -> Command:
        return Command(Op.CULL, slot)


class ActionCodec:
    """Bijection between commands and ``0 .. n-1``.

    Layout: ``0`` = WAIT; then GERMINATE for every (slot, blueprint), slot-major; then ADVANCE per slot;
    then CULL per slot. With 3 slots and 5 blueprints that is ``1 + 15 + 3 + 3 = 22`` actions.
    """

    def __init__(self, num_slots: int, blueprints: tuple[str, ...] | list[str]):
        if num_slots < 1:
            raise ValueError("num_slots must be >= 1")
        if not blueprints:
            raise ValueError("at least one blueprint is needed")
        self.num_slots = int(num_slots)
        self.blueprints = tuple(blueprints)
        commands = [Command.wait()]
        commands += [Command.germinate(s, b) for s in range(self.num_slots) for b in self.blueprints]
        commands += [Command.advance(s) for s in range(self.num_slots)]
        commands += [Command.cull(s) for s in range(self.num_slots)]
        self._commands = tuple(commands)
        self._index = {c: i for i, c in enumerate(commands)}

    @classmethod
    def layout(cls) -> ActionCodec:
        """The common layout's codec (every registered env's): :data:`SLOT_POSITIONS` x :data:`LAYOUT_BLUEPRINTS`,
        22 actions."""
        return cls(SLOT_POSITIONS, LAYOUT_BLUEPRINTS)

    @classmethod
    def for_report(cls, report: TrainingReport) -> ActionCodec:
        """The codec of the environment that produced ``report`` (the common layout)."""
        return cls.layout()

    @property
    def n(self) -> int:
        return len(self._commands)

    @property
    def commands(self) -> tuple[Command, ...]:
        return self._commands

    def encode(self, command: Command) -> int:
        try:
            return self._index[command]
        except KeyError:
            raise ValueError(f"{command} is not in this action space (slots={self.num_slots}, "
                             f"blueprints={self.blueprints})") from None

    def decode(self, action: int) -> Command:
        a = int(action)
        if a != action or not 0 <= a < self.n:
            raise ValueError(f"action {action!r} is outside the action space Discrete({self.n})")
        return self._commands[a]


@dataclass(frozen=True)
class SlotState:
    """The part of a slot's state that decides which commands are legal."""

    stage: SeedStage
    blend_complete: bool = False
    """True once a BLENDING seed's alpha has reached 1 (only then may it be fossilized)."""


def command_is_legal(command: Command, slots: Sequence[SlotState] | Mapping[int, SlotState],
                     blueprints: Collection[str] | None = None) -> bool:
    """Whether ``command`` may be applied now. WAIT is always legal.

    ``slots``: the state of each slot that exists, by slot number (a sequence is numbered from 0); a slot not
    in it (a position the config does not enable) takes no command. ``blueprints``: the ones GERMINATE may
    use (None = any).

    * GERMINATE needs a DORMANT slot and an enabled blueprint.
    * ADVANCE moves TRAINING -> BLENDING, or BLENDING -> FOSSILIZED once blending is complete.
      (GERMINATED -> TRAINING happens by itself after the seed's first epoch.)
    * CULL needs a GERMINATED, TRAINING or BLENDING seed.
    """
    if command.op == Op.WAIT:
        return True
    if not isinstance(slots, Mapping):
        slots = dict(enumerate(slots))
    slot = slots.get(command.slot)
    if slot is None:
        return False
    if command.op == Op.GERMINATE:
        return slot.stage == SeedStage.DORMANT and (blueprints is None or command.blueprint in blueprints)
    if command.op == Op.ADVANCE:
        return slot.stage == SeedStage.TRAINING or (slot.stage == SeedStage.BLENDING and slot.blend_complete)
    return slot.stage in ACTIVE_STAGES  # CULL


def legal_commands(codec: ActionCodec, slots: Sequence[SlotState] | Mapping[int, SlotState],
                   blueprints: Collection[str] | None = None) -> np.ndarray:
    """Boolean mask over ``codec``'s actions: which commands are legal now (see :func:`command_is_legal`)."""
    if not isinstance(slots, Mapping):
        slots = dict(enumerate(slots))
    return np.array([command_is_legal(c, slots, blueprints) for c in codec.commands], dtype=bool)


# --------------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------------

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
        return legal_commands(ActionCodec.layout(), self.slot_states, self.blueprints)

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


# --------------------------------------------------------------------------------------------------
# Observation vector
# --------------------------------------------------------------------------------------------------

OBS_VERSION = 4
"""Bumped whenever :func:`report_to_vector` changes meaning; saved policies record it.
2: GERMINATED observable, embargo semantics, seeds germinated, epochs since cull, training compute.
3: each slot's contribution and potential also on a fine (symmetric-log) scale.
4: the common layout (all :data:`SLOT_POSITIONS` positions and :data:`LAYOUT_BLUEPRINTS` in every env, with
   ``*_enabled`` flags) and the task context (``task_*`` entries)."""

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


def report_to_vector(report: TrainingReport) -> np.ndarray:
    """Observation vector (version :data:`OBS_VERSION`): float32, every entry clipped to [-1, 1], the same
    entries in every env (the common layout).

    Fractions stay as they are; epoch counts are divided by ``max_epochs``; losses by ``ln(classes)``
    then halved; accuracy deltas, contributions and potentials are scaled by 10 (so a 10-point change
    spans the range); parameter ratios are relative to the host and divided by 4; training compute is
    relative to the bare host's budget and halved; "epochs since cull" is 1 for never (and for a blueprint the
    env does not enable); contribution and potential also appear on a fine scale (:func:`symlog`), where
    fractions of a point are visible. The task context is normalised as :data:`TASK_ENTRIES` says. Each slot
    position reads as :data:`SLOT_ENTRIES` (stages and blueprints one-hot), all zeros where the env has no slot.
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
        return cls(OBS_VERSION, tuple(observation_fields()), tuple(str(c) for c in ActionCodec.layout().commands))

    @classmethod
    def for_report(cls, report: TrainingReport) -> ObservationSchema:
        return cls.build()

    def to_dict(self) -> dict:
        return {"obs_version": self.obs_version, "fields": list(self.fields), "actions": list(self.actions)}

    @classmethod
    def from_dict(cls, data: dict) -> ObservationSchema:
        try:
            return cls(int(data["obs_version"]), tuple(str(f) for f in data["fields"]),
                       tuple(str(a) for a in data["actions"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed observation schema ({e!r}): expected obs_version, fields, actions") from None

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


# --------------------------------------------------------------------------------------------------
# What an episode leaves behind
# --------------------------------------------------------------------------------------------------


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
