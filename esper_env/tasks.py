"""Task distributions: what ``Esper-Mixed-v0`` draws a training task from at each reset.

A :class:`TaskFamily` is a base :class:`~esper_env.config.EsperConfig` and the values each drawn field may
take; a :class:`TaskDistribution` is weighted families. ``draw(seed, split)`` is a pure function of the seed:
the same seed gives the same task. Each family has a *held-out* part that training draws never produce:
synthetic dataset seeds from ``heldout_synthetic_seeds`` and training-set sizes from ``heldout_train_sizes``
(the other fields are drawn as in training), for evaluating a controller on tasks it has not seen.

Built-in distributions (:data:`TASK_DISTRIBUTIONS`, by name):

* ``"synthetic"`` -- offline: Fast-like tasks (tiny host, 32 px) and 16 px tasks (tiny/small host), procedural
  data. The registered default.
* ``"cheap"`` -- the synthetic families plus ``cifar16``: the real CIFAR-10 subset at 16x16 on a tiny or small
  host, where networks actually learn (no-growth ~53% test accuracy, a 4x wider host ~+8.5 points:
  ``benchmarks/results/cheap-family``). Needs the subset at ``data_root``.

Families with a hidden event (``EsperConfig.event``, played by :mod:`esper_env.variants`; the event's epoch or
probability is drawn per seed and never reported):

* ``"stream"`` (``Esper-Stream-v0``) -- new classes arrive at a hidden epoch, Fast's cost;
* ``"faulty"`` (``Esper-Faulty-v0``) -- seeds fail with a hidden probability, Fast's cost;
* ``"shift"`` (``Esper-Shift-v0``) -- the images change at a hidden epoch by a hidden transformation, Fast's cost;
* ``"capacity"`` (``Esper-Capacity-v0``) -- a hidden number of classes (how much capacity pays), Fast's cost;
* ``"stream-real"`` -- new classes arrive on the real CIFAR-10 subset (needs ``data_root``);
* ``"faulty-real"`` -- seeds fail with a hidden probability on the real CIFAR-10 subset (needs ``data_root``);
* ``"events"`` -- the synthetic (stationary) families and the four Fast-cost event families together (one policy
  for all).
* ``"faulty-fast"`` -- ``Esper-Fast-v0``'s task as it is (stationary) and the same task with seeds that can fail,
  half and half: the one family with measured headroom beside its stationary twin (Simic v4 learns on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SUBSET_SIZES, ConfigError, EsperConfig, make_config
from .leyline import LAYOUT_BLUEPRINTS

SPLITS = ("train", "heldout")
"""``train``: what controllers learn and are tuned on; ``heldout``: tasks no training draw produces."""

_SALT = 0x7A5C
"""Mixed into the seed of a task draw, so that a task's draw and its episode's own randomness (which also start
from the seed) are independent streams."""


@dataclass(frozen=True)
class TaskFamily:
    """One family of tasks: a base config and the values each drawn field may take (uniformly)."""

    name: str
    base: EsperConfig
    """Every field not drawn below comes from here (dataset, data_root, val/test sizes, batch sizes, ...)."""
    hosts: tuple[str, ...] = ("tiny",)
    """Host presets."""
    widths: tuple[float, ...] = (1.0,)
    """Host width multipliers."""
    train_sizes: tuple[int, ...] = (1500,)
    """Training images (training draws)."""
    heldout_train_sizes: tuple[int, ...] = ()
    """Training images of held-out draws (never drawn for training); empty = as in training."""
    max_epochs: tuple[int, ...] = (16,)
    """Episode budgets, in epochs."""
    lrs: tuple[float, ...] = (0.05,)
    """Host learning rates (the seed learning rate is drawn equal to it)."""
    blend_epochs: tuple[int, ...] = (2,)
    """Alpha-ramp lengths."""
    slot_sets: tuple[tuple[int, ...], ...] = ((1, 2),)
    """Which slot positions are enabled."""
    image_sizes: tuple[int, ...] = (32,)
    """Image sides, in pixels."""
    blueprint_sets: tuple[tuple[str, ...], ...] = (LAYOUT_BLUEPRINTS,)
    """Which blueprints are enabled."""
    synthetic_seeds: tuple[int, int] = (1, 17)
    """[low, high): synthetic datasets of training draws (synthetic families only). Dataset 0 (that of
    ``Esper-Fast-v0`` and ``Esper-Synthetic-v0``) is never drawn, so those stay unseen tasks."""
    heldout_synthetic_seeds: tuple[int, int] = (1000, 1008)
    """[low, high): synthetic datasets of held-out draws."""
    weight: float = 1.0
    """Relative probability of drawing this family."""
    event: str = "none"
    """The hidden event every task of the family has (``EsperConfig.event``; drawn below, never in the report)."""
    event_epochs: tuple[int, ...] = (0,)
    """new_classes: the epochs the new classes may arrive at (training draws)."""
    heldout_event_epochs: tuple[int, ...] = ()
    """new_classes: arrival epochs of held-out draws (never drawn for training); empty = as in training."""
    fault_ps: tuple[float, ...] = (0.0,)
    """faulty_seeds: failure probabilities (training draws)."""
    heldout_fault_ps: tuple[float, ...] = ()
    """faulty_seeds: failure probabilities of held-out draws; empty = as in training."""
    first_classes: tuple[int, ...] = (10,)
    """new_classes: classes in the stream before the event."""
    replays: tuple[float, ...] = (1.0,)
    """new_classes: the fraction of the first classes' images kept after the event."""
    heldout_first_classes: tuple[int, ...] = ()
    """few_classes: classes of held-out draws; empty = as in training."""
    shift_kinds: tuple[str, ...] = ("none",)
    """domain_shift: the shifts (training draws)."""
    heldout_shift_kinds: tuple[str, ...] = ()
    """domain_shift: the shifts of held-out draws; empty = as in training."""

    def draw(self, rng: np.random.Generator, split: str) -> EsperConfig:
        pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
        heldout = split == "heldout"
        lr = pick(self.lrs)
        fields = dict(host=pick(self.hosts), width=pick(self.widths),
                      train_size=pick(self.heldout_train_sizes if heldout and self.heldout_train_sizes
                                      else self.train_sizes),
                      max_epochs=pick(self.max_epochs), lr=lr, seed_lr=lr, blend_epochs=pick(self.blend_epochs),
                      slots=pick(self.slot_sets), image_size=pick(self.image_sizes),
                      blueprints=pick(self.blueprint_sets))
        low, high = self.heldout_synthetic_seeds if heldout else self.synthetic_seeds
        seed = int(rng.integers(low, high))
        if self.base.dataset == "synthetic":
            fields["synthetic_seed"] = seed
        if self.event != "none":  # drawn after every other field: families without an event draw as they did
            fields.update(event=self.event,
                          event_epoch=pick(self.heldout_event_epochs if heldout and self.heldout_event_epochs
                                           else self.event_epochs),
                          fault_p=pick(self.heldout_fault_ps if heldout and self.heldout_fault_ps else self.fault_ps),
                          first_classes=pick(self.heldout_first_classes if heldout and self.heldout_first_classes
                                             else self.first_classes), replay=pick(self.replays))
        if self.event == "domain_shift":  # drawn last: the families before it draw as they did
            fields["shift_kind"] = pick(self.heldout_shift_kinds if heldout and self.heldout_shift_kinds
                                        else self.shift_kinds)
        return self.base.replace(**fields)

    def check(self) -> None:
        """Every choice builds a valid config (a ConfigError naming the family otherwise)."""
        for name in ("hosts", "widths", "train_sizes", "max_epochs", "lrs", "blend_epochs", "slot_sets",
                     "image_sizes", "blueprint_sets"):
            if not getattr(self, name):
                raise ConfigError(f"task family {self.name!r}: {name} is empty")
        for lo_hi in (self.synthetic_seeds, self.heldout_synthetic_seeds):
            if len(lo_hi) != 2 or not 0 <= lo_hi[0] < lo_hi[1]:
                raise ConfigError(f"task family {self.name!r}: a seed range must be (low, high) with 0 <= low < high")
        a, b = self.synthetic_seeds, self.heldout_synthetic_seeds
        if self.base.dataset == "synthetic" and a[0] < b[1] and b[0] < a[1]:
            raise ConfigError(f"task family {self.name!r}: training and held-out synthetic seeds overlap")
        if set(self.train_sizes) & set(self.heldout_train_sizes):
            raise ConfigError(f"task family {self.name!r}: a held-out training size is also drawn for training")
        for train, held, what in ((self.event_epochs, self.heldout_event_epochs, "event epoch"),
                                  (self.fault_ps, self.heldout_fault_ps, "failure probability"),
                                  (self.shift_kinds, self.heldout_shift_kinds, "shift"),
                                  (self.first_classes, self.heldout_first_classes, "class count")):
            if set(train) & set(held):
                raise ConfigError(f"task family {self.name!r}: a held-out {what} is also drawn for training")
        choices = {"host": self.hosts, "width": self.widths, "train_size": self.train_sizes + self.heldout_train_sizes,
                   "max_epochs": self.max_epochs, "lr": self.lrs, "blend_epochs": self.blend_epochs,
                   "slots": self.slot_sets, "image_size": self.image_sizes, "blueprints": self.blueprint_sets,
                   "event": (self.event,), "fault_p": self.fault_ps + self.heldout_fault_ps,
                   "first_classes": self.first_classes + self.heldout_first_classes, "replay": self.replays,
                   "shift_kind": self.shift_kinds + self.heldout_shift_kinds}
        if self.event != "none":
            epochs = self.event_epochs + self.heldout_event_epochs
            if max(epochs) > min(self.max_epochs):
                raise ConfigError(f"task family {self.name!r}: event epochs {epochs} must fit every budget "
                                  f"{self.max_epochs}")
        probe = self.base.replace(shift_kind=self.shift_kinds[0]) if self.event == "domain_shift" else self.base
        try:
            for field, values in choices.items():
                for v in values:
                    probe.replace(**{field: v})
        except ConfigError as e:
            raise ConfigError(f"task family {self.name!r}: {e}") from None


@dataclass(frozen=True)
class TaskDistribution:
    """Weighted task families; :meth:`draw` gives the task of a seed (replace it to train on other tasks)."""

    families: tuple[TaskFamily, ...]

    def __post_init__(self) -> None:
        if not self.families:
            raise ConfigError("a task distribution needs at least one family")
        for f in self.families:
            f.check()
        if len({f.name for f in self.families}) != len(self.families):
            raise ConfigError("task family names must be distinct")
        if any(not f.weight > 0 for f in self.families):
            raise ConfigError("every task family needs a weight > 0")

    def draw(self, seed: int, split: str = "train", **overrides) -> EsperConfig:
        """The task of ``seed`` (a pure function of it), with ``overrides`` applied to the drawn config."""
        if split not in SPLITS:
            raise ConfigError(f"split={split!r} is not allowed: one of {', '.join(map(repr, SPLITS))}")
        rng = np.random.default_rng([int(seed), _SALT])
        task = self._family(rng).draw(rng, split)
        return task.replace(**overrides) if overrides else task

    def family_of(self, seed: int) -> str:
        """Which family ``seed`` draws from (the same for both splits)."""
        return self._family(np.random.default_rng([int(seed), _SALT])).name

    def _family(self, rng: np.random.Generator) -> TaskFamily:
        w = np.array([f.weight for f in self.families], float)
        return self.families[int(rng.choice(len(w), p=w / w.sum()))]


# ---- the built-in families ------------------------------------------------------------------------

SLOT_SETS = ((1, 2), (0, 1, 2), (0, 1), (2,))
"""Enabled slot positions drawn by the built-in families (Esper-Fast-v0's (1, 2) among them)."""


def synthetic_families() -> tuple[TaskFamily, ...]:
    fast = make_config("fast")
    return (
        # Fast-like: tiny host on 32 px procedural images (Esper-Fast-v0 is one such task, on dataset 0).
        TaskFamily("fast", fast, hosts=("tiny",), widths=(1.0, 1.5), train_sizes=(1000, 1500, 2000),
                   heldout_train_sizes=(1250, 1750), max_epochs=(12, 16, 20), lrs=(0.03, 0.05, 0.08),
                   blend_epochs=(2, 3), slot_sets=SLOT_SETS, image_sizes=(32,)),
        # 16 px procedural images, more of them, tiny or small host.
        TaskFamily("synthetic16", fast.replace(val_size=1000, test_size=1000), hosts=("tiny", "small"),
                   widths=(1.0,), train_sizes=(2000, 3000, 4000), heldout_train_sizes=(2500, 3500),
                   max_epochs=(12, 16), lrs=(0.03, 0.05, 0.08), blend_epochs=(2, 3), slot_sets=SLOT_SETS,
                   image_sizes=(16,)),
    )


def cifar16_family(data_root: str | None) -> TaskFamily:
    """The real CIFAR-10 subset (5,170 train / 1,017 test images) at 16x16: the informative cheap regime."""
    base = make_config("cifar10", data_root=data_root, **SUBSET_SIZES, image_size=16, blend_epochs=2,
                       embargo_epochs=1, eval_batch_size=250, host="tiny",
                       max_epochs=16)
    return TaskFamily("cifar16", base, hosts=("tiny", "small"), widths=(1.0,), train_sizes=(2000, 3000, 4170),
                      heldout_train_sizes=(2500, 3500), max_epochs=(12, 16, 20), lrs=(0.03, 0.05, 0.08),
                      blend_epochs=(2, 3), slot_sets=SLOT_SETS, image_sizes=(16,), weight=2.0)


def stream_family(name: str = "fast-stream", base: EsperConfig | None = None, **kw) -> TaskFamily:
    """New classes arrive: Fast's task (tiny host, 32 px procedural images, 16 epochs) learns classes 0-4 until a
    hidden epoch (4, 6, 8 or 10; held out: 5, 7, 9), then all ten, keeping half of the first classes' images."""
    base = base or make_config("fast")
    return TaskFamily(name, base, max_epochs=(base.max_epochs,), train_sizes=(base.train_size,),
                      event="new_classes", event_epochs=(4, 6, 8, 10), heldout_event_epochs=(5, 7, 9),
                      first_classes=(5,), replays=(0.5,), **kw)


def faulty_family(name: str = "fast-faulty", base: EsperConfig | None = None, **kw) -> TaskFamily:
    """Seeds that can fail: Fast's task where each germination fails (its training diverges) with a hidden probability
    (0.25, 0.5 or 0.75; held out: 0.4, 0.6)."""
    base = base or make_config("fast")
    return TaskFamily(name, base, max_epochs=(base.max_epochs,), train_sizes=(base.train_size,),
                      event="faulty_seeds", fault_ps=(0.25, 0.5, 0.75), heldout_fault_ps=(0.4, 0.6), **kw)


def fast_family(name: str = "fast-stationary", base: EsperConfig | None = None, **kw) -> TaskFamily:
    """``Esper-Fast-v0``'s task as a family without an event: the stationary twin of the Fast-cost event families."""
    base = base or make_config("fast")
    return TaskFamily(name, base, max_epochs=(base.max_epochs,), train_sizes=(base.train_size,), **kw)


def _as_base(base: EsperConfig) -> dict:
    """A family's drawn host fields fixed to its base config's (a family of one setting plus its event)."""
    return dict(hosts=(base.host,), widths=(base.width,), lrs=(base.lr,), blend_epochs=(base.blend_epochs,),
                slot_sets=(base.slots,), image_sizes=(base.image_size,))


def shift_family(name: str = "fast-shift", base: EsperConfig | None = None, **kw) -> TaskFamily:
    """A domain shift: Fast's task whose images change at a hidden epoch (4, 6, 8 or 10; held out: 5, 7, 9) by a
    hidden transformation (a negative, a rotation or sensor noise; held out: blur or a colour permutation)."""
    base = base or make_config("fast")
    return TaskFamily(name, base, max_epochs=(base.max_epochs,), train_sizes=(base.train_size,),
                      event="domain_shift", event_epochs=(4, 6, 8, 10), heldout_event_epochs=(5, 7, 9),
                      shift_kinds=("negative", "rotate", "noise"), heldout_shift_kinds=("blur", "colour"), **kw)


def capacity_family(name: str = "fast-capacity", base: EsperConfig | None = None, **kw) -> TaskFamily:
    """Hidden capacity demand: Fast's task with a hidden number of classes (2, 4 or 10; held out: 3, 6), so whether
    growth pays for its rent shows only in the learning curve."""
    base = base or make_config("fast")
    return TaskFamily(name, base, max_epochs=(base.max_epochs,), train_sizes=(base.train_size,),
                      event="few_classes", first_classes=(2, 4, 10), heldout_first_classes=(3, 6), **kw)


def subset_stream_family(data_root: str | None) -> TaskFamily:
    """New classes arrive on real images: the CIFAR-10 subset evaluation (small host, 20 epochs); the first five
    classes until a hidden epoch (5, 8, 11 or 14; held out: 6, 10, 13), then all ten with half of the first ones."""
    base = make_config("cifar10", data_root=data_root, **SUBSET_SIZES, host="small", max_epochs=20)
    return TaskFamily("subset-stream", base, max_epochs=(20,), train_sizes=(SUBSET_SIZES["train_size"],),
                      event="new_classes", event_epochs=(5, 8, 11, 14), heldout_event_epochs=(6, 10, 13),
                      first_classes=(5,), replays=(0.5,), **_as_base(base))


def subset_faulty_family(data_root: str | None) -> TaskFamily:
    """Seeds that can fail on real images: the CIFAR-10 subset evaluation (small host, 20 epochs), each germination
    failing with a hidden probability (0.25, 0.5 or 0.75; held out: 0.4, 0.6)."""
    base = make_config("cifar10", data_root=data_root, **SUBSET_SIZES, host="small", max_epochs=20)
    return faulty_family("subset-faulty", base, **_as_base(base))


def task_distribution(name: str | TaskDistribution, data_root: str | None = None) -> TaskDistribution:
    """A built-in distribution by name (:data:`TASK_DISTRIBUTIONS`); a :class:`TaskDistribution` as it is."""
    if isinstance(name, TaskDistribution):
        return name
    families = _DISTRIBUTIONS.get(name)
    if families is not None:
        return TaskDistribution(families(data_root))
    raise ConfigError(f"unknown task distribution {name!r}; choose one of {', '.join(TASK_DISTRIBUTIONS)}, "
                      "or pass a TaskDistribution")


_DISTRIBUTIONS = {
    "synthetic": lambda root: synthetic_families(),
    "cheap": lambda root: (*synthetic_families(), cifar16_family(root)),
    "stream": lambda root: (stream_family(),),
    "faulty": lambda root: (faulty_family(),),
    "shift": lambda root: (shift_family(),),
    "capacity": lambda root: (capacity_family(),),
    "stream-real": lambda root: (subset_stream_family(root),),
    "faulty-real": lambda root: (subset_faulty_family(root),),
    "events": lambda root: (*synthetic_families(), stream_family(), faulty_family(), shift_family(), capacity_family()),
    "faulty-fast": lambda root: (fast_family(), faulty_family()),
}
"""Each built-in distribution's families (given the real subset's ``data_root``)."""
TASK_DISTRIBUTIONS = tuple(_DISTRIBUTIONS)
"""Names :func:`task_distribution` (and ``gym.make("Esper-Mixed-v0", tasks=...)``) accept."""
