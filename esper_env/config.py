"""EsperConfig: every setting of an Esper environment in one frozen, validated dataclass.

Registered ids are named presets of it (:data:`PRESETS`); ``gym.make(id, **overrides)`` replaces fields.
Every field is checked when the config is built -- before any data is loaded -- by small ``_check_*``
helpers composed in :meth:`EsperConfig.__post_init__`; an error names the field, the value and what is
allowed. ``python -m esper_env.config`` prints the field table that docs/environment.md shows.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import math
import numbers
import os
import textwrap
from dataclasses import dataclass
from typing import Any

from .data import DATASETS
from .kasmina import BLUEPRINTS
from .kasmina import MODEL_DEFAULTS as M
from .kasmina import PRESETS as HOST_PRESETS
from .kasmina.settings import SETTING_NAMES as MODEL_SETTINGS
from .kasmina.settings import check_image_size, check_lifecycle
from .leyline import HISTORY_LEN, SLOT_POSITIONS, ObservationSchema

IMAGE_BYTES = 3 * 32 * 32
"""Bytes of one uint8 image; datasets are held in memory as such."""


class ConfigError(ValueError):
    """A configuration value that is not allowed; the message names the field and what is allowed."""


class UnknownSettingError(ConfigError, TypeError):
    """A setting that does not exist (a TypeError too, like any unexpected keyword argument; this env has no
    ``render_mode``, for instance)."""


@dataclass(frozen=True)
class EsperConfig:
    """Settings of one Esper environment. Accuracies and rates are fractions; sizes are image counts."""

    dataset: str = "cifar10"
    """Image source: "cifar10" (real images, read from data_root) or "synthetic" (procedural, offline)."""
    data_root: str | None = None
    """Folder holding cifar-10-batches-py/ (and the synthetic cache); None = $ESPER_DATA_DIR or ~/.cache/esper."""
    download: bool = False
    """Download CIFAR-10 into data_root when it is missing (needs network access and torchvision)."""
    train_size: int | None = None
    """Training images per episode, drawn from the training pool; None = all not used for validation."""
    val_size: int = 5000
    """Validation images, carved from the training pool; rewards and decisions see only these."""
    test_size: int | None = None
    """Test images, used once for the final report; None = the whole test set (needs a number for synthetic)."""
    synthetic_seed: int = 0
    """Which procedural dataset (dataset="synthetic" only)."""
    max_epochs: int = 25
    """Epochs per episode; one step trains one epoch."""
    host: str = "default"
    """Host CNN preset: "default" (32-64-128), "small" (16-32-64) or "tiny" (8-16-32)."""
    width: float = 1.0
    """Multiplier on the host preset's channel widths (4.0 = a 4x wider host)."""
    image_size: int = M.image_size
    """Side of the images in pixels: 32, or 16 / 24 / 8 to downsample every image (real or synthetic) once."""
    slots: tuple[int, ...] = M.slots
    """Slot positions this env enables (position p sits after host block p); the others are never legal."""
    blueprints: tuple[str, ...] = M.blueprints
    """Blueprints that GERMINATE may use (the others are never legal; the action order is the common layout's)."""
    batch_size: int = 128
    """Training batch size."""
    eval_batch_size: int = 500
    """Batch size of validation, counterfactual and test passes (counterfactuals use its batch statistics)."""
    lr: float = M.lr
    """Host SGD learning rate at epoch 0."""
    seed_lr: float = M.seed_lr
    """A seed's learning rate at germination."""
    lr_schedule: str = "cosine"
    """"cosine": host lr decays to 0 over max_epochs, a seed's from germination to the end; or "constant"."""
    momentum: float = M.momentum
    """SGD (Nesterov) momentum, in [0, 1)."""
    weight_decay: float = M.weight_decay
    """SGD weight decay."""
    blend_epochs: int = M.blend_epochs
    """Epochs over which a BLENDING seed's alpha ramps from 0 to 1."""
    blend_schedule: str = M.blend_schedule
    """Shape of the alpha ramp: "linear" or "cosine"."""
    embargo_epochs: int = M.embargo_epochs
    """Decisions for which a slot stays CULLED (GERMINATE illegal) after its seed was culled."""
    rent_coef: float = 0.02
    """Reward cost of growth: a seed the size of the host kept all episode costs this much return."""
    illegal_penalty: float = 0.01
    """Reward cost of a command that is not legal now (it is a no-op)."""
    nonfinite_penalty: float = 1.0
    """Reward cost of a non-finite loss, which ends the episode."""
    plateau_window: int = 3
    """Epochs over which the validation gain is averaged to decide a plateau epoch (1..4)."""
    plateau_threshold: float = 0.015
    """A plateau epoch: mean val-accuracy gain per epoch over plateau_window below this (0.015 = 1.5 points)."""
    device: str = "auto"
    """"cpu", "cuda", "cuda:N", or "auto" (CUDA when present)."""
    precision: str = "auto"
    """"fp32", "bf16" (autocast), or "auto" (bf16 where the hardware has fast bfloat16)."""
    threads: int = 0
    """Torch CPU threads of the env's process (set when the env is built); 0 = 1 in a worker process, else torch's."""
    event: str = "none"
    """A hidden event of the episode (esper_env.variants; a task family draws it per seed, the report never names
    it): "none"; "faulty_seeds" (a germinated seed fails with probability fault_p: it trains at 1000x its learning
    rate); "new_classes" (only the first first_classes classes are in the stream until event_epoch, then all);
    "domain_shift" (from event_epoch on, every image is transformed by shift_kind; the test set too); "few_classes"
    (every split holds only the first first_classes classes: a task easier than it looks)."""
    event_epoch: int = 0
    """The epoch (0-based, the first one trained with the change) at which a new_classes or domain_shift event
    happens."""
    fault_p: float = 0.0
    """faulty_seeds: the probability that a germination fails, independently for each germination."""
    first_classes: int = 10
    """new_classes: the classes (labels 0..first_classes-1) in the stream before event_epoch."""
    replay: float = 1.0
    """new_classes: the fraction of the first classes' training images that stays in the stream after event_epoch."""
    shift_kind: str = "none"
    """domain_shift: the transformation of the new domain (esper_env.variants.SHIFTS: "negative", "rotate",
    "noise", "blur", "colour")."""

    def __post_init__(self) -> None:
        for name in ("slots", "blueprints"):  # lists (from JSON or --set) become tuples
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        for check in _CHECKS:
            check(self)

    def replace(self, **overrides: Any) -> EsperConfig:
        """A copy with ``overrides``; an unknown name is refused with the closest field names."""
        unknown = [k for k in overrides if k not in FIELD_NAMES]
        if unknown:
            hints = {k: difflib.get_close_matches(k, FIELD_NAMES, n=1) for k in unknown}
            said = ", ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
            raise UnknownSettingError(f"unknown setting {said}; the settings are: {', '.join(FIELD_NAMES)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON records); :meth:`from_dict` rebuilds the same config."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EsperConfig:
        return cls().replace(**data)

    def schema(self) -> ObservationSchema:
        """The observation and action layout of an env built from this config (the common layout: every
        config's is the same)."""
        return ObservationSchema.build()

    def resolved_precision(self) -> str:
        """The precision an env of this config trains in on this machine ("auto" resolved: "bf16" where the device
        has fast bfloat16, else "fp32")."""
        from .training import resolve_device, resolve_precision

        return resolve_precision(self.precision, resolve_device(self.device))

    @property
    def train_images(self) -> int:
        """Training images per episode (``train_size``, or what the 50k CIFAR-10 training images leave after
        validation)."""
        return self.train_size if self.train_size is not None else 50_000 - self.val_size

    def model_settings(self) -> dict[str, Any]:
        """The fields a :class:`~esper_env.kasmina.MorphogeneticModel` takes (its ``ModelSettings``)."""
        return {k: getattr(self, k) for k in MODEL_SETTINGS}

    def differences(self, other: EsperConfig) -> list[str]:
        """``field: mine vs other`` for every field that differs."""
        return [f"{k}: {getattr(self, k)!r} vs {getattr(other, k)!r}" for k in FIELD_NAMES
                if getattr(self, k) != getattr(other, k)]


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EsperConfig))


# --------------------------------------------------------------------------------------------------
# Checks: each looks at one concern and raises ConfigError naming the field, the value and what is allowed
# --------------------------------------------------------------------------------------------------

def _fail(name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{name}={value!r} is not allowed: {allowed}")


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _int(c: EsperConfig, name: str, low: int, optional: bool = False) -> None:
    v = getattr(c, name)
    if v is None and optional:
        return
    if not _is_int(v) or v < low:
        _fail(name, v, f"an integer >= {low}" + (" or None" if optional else ""))


def _real(c: EsperConfig, name: str, low: float, high: float = math.inf, high_open: bool = False) -> None:
    v = getattr(c, name)
    if not _is_real(v) or not math.isfinite(v) or v < low or (v >= high if high_open else v > high):
        span = f"[{low}, {high})" if high_open else (f">= {low}" if high == math.inf else f"[{low}, {high}]")
        _fail(name, v, f"a finite number in {span}")


def _choice(c: EsperConfig, name: str, allowed: tuple) -> None:
    v = getattr(c, name)
    if v not in allowed:
        _fail(name, v, f"one of {', '.join(map(repr, allowed))}")


def _check_names(c: EsperConfig) -> None:
    _choice(c, "dataset", DATASETS)
    _choice(c, "host", tuple(HOST_PRESETS))
    _choice(c, "lr_schedule", ("cosine", "constant"))
    _choice(c, "precision", ("auto", "bf16", "fp32"))
    if not isinstance(c.download, bool):
        _fail("download", c.download, "True or False")
    if c.data_root is not None and not isinstance(c.data_root, (str, os.PathLike)):
        _fail("data_root", c.data_root, "a folder path or None")
    if c.data_root is not None and os.path.exists(c.data_root) and not os.path.isdir(c.data_root):
        _fail("data_root", c.data_root, "a folder (this is a file); give the folder that holds cifar-10-batches-py/")


def _check_sizes(c: EsperConfig) -> None:
    _int(c, "train_size", 1, optional=True)
    _int(c, "val_size", 1)
    _int(c, "test_size", 1, optional=True)
    _int(c, "synthetic_seed", 0)
    if c.dataset == "synthetic" and (c.train_size is None or c.test_size is None):
        _fail("train_size" if c.train_size is None else "test_size", None,
              "the synthetic dataset is generated, so it needs explicit train_size and test_size")
    images = (c.train_size or 50_000) + c.val_size + (c.test_size or 10_000)
    memory = _physical_memory()
    if memory and images * IMAGE_BYTES > memory:
        _fail("train_size" if (c.train_size or 0) >= max(c.val_size, c.test_size or 0) else
              ("val_size" if c.val_size >= (c.test_size or 0) else "test_size"),
              images, f"{images:,} images need {images * IMAGE_BYTES / 2**30:.0f} GiB but this machine has "
              f"{memory / 2**30:.0f} GiB of memory; lower the sizes")


def _check_training(c: EsperConfig) -> None:
    _int(c, "max_epochs", 1)
    _int(c, "batch_size", 1)
    _int(c, "eval_batch_size", 1)
    try:
        check_lifecycle(c.blend_epochs, c.blend_schedule, c.embargo_epochs)  # the model's own checks
        check_image_size(c.image_size)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    _real(c, "width", 1e-3, 64)
    _real(c, "lr", 0)
    _real(c, "seed_lr", 0)
    _real(c, "momentum", 0, 1, high_open=True)
    _real(c, "weight_decay", 0, 1)
    if c.lr == 0:
        _fail("lr", c.lr, "a finite number > 0 (the host would not train)")


def _check_reward(c: EsperConfig) -> None:
    for name in ("rent_coef", "illegal_penalty", "nonfinite_penalty"):
        _real(c, name, 0, 1e6)
    _int(c, "plateau_window", 1)
    if c.plateau_window > HISTORY_LEN - 1:
        _fail("plateau_window", c.plateau_window, f"an integer in 1..{HISTORY_LEN - 1} (the report's history)")
    _real(c, "plateau_threshold", -1, 1)


def _check_architecture(c: EsperConfig) -> None:
    blocks = min(len(HOST_PRESETS.get(c.host, ())), SLOT_POSITIONS)
    if (not isinstance(c.slots, tuple) or not c.slots or not all(_is_int(s) for s in c.slots)
            or len(set(c.slots)) != len(c.slots) or not all(0 <= s < blocks for s in c.slots)
            or list(c.slots) != sorted(c.slots)):
        _fail("slots", c.slots, f"a non-empty increasing tuple of distinct slot positions in 0..{blocks - 1}")
    if (not isinstance(c.blueprints, tuple) or not c.blueprints or len(set(c.blueprints)) != len(c.blueprints)
            or not all(isinstance(b, str) and b in BLUEPRINTS for b in c.blueprints)):
        _fail("blueprints", c.blueprints, f"a non-empty tuple of distinct names from {', '.join(BLUEPRINTS)}")


def _check_device(c: EsperConfig) -> None:
    _int(c, "threads", 0)
    d = c.device
    if not isinstance(d, str) or not (d in ("auto", "cpu", "cuda") or
                                      (d.startswith("cuda:") and d[5:].isdigit())):
        _fail("device", d, '"auto", "cpu", "cuda" or "cuda:N"')
    if d.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            _fail("device", d, 'CUDA is not available on this machine; use "cpu" or "auto"')
        if ":" in d and int(d[5:]) >= torch.cuda.device_count():
            _fail("device", d, f"this machine has {torch.cuda.device_count()} CUDA device(s)")


EVENTS = ("none", "faulty_seeds", "new_classes", "domain_shift", "few_classes")
"""The hidden events an episode may have (esper_env.variants.VARIANTS)."""
SHIFT_KINDS = ("none", "negative", "rotate", "noise", "blur", "colour")
"""Domain shifts (esper_env.variants.SHIFTS)."""
CLASSES = 10
"""Classes of every dataset (CIFAR-10 and the procedural one)."""


def _check_event(c: EsperConfig) -> None:
    _choice(c, "event", EVENTS)
    _int(c, "event_epoch", 0)  # past the budget: the event does not happen in this episode
    _real(c, "fault_p", 0, 1)
    _int(c, "first_classes", 1)
    if c.first_classes > CLASSES:
        _fail("first_classes", c.first_classes, f"an integer in 1..{CLASSES}")
    _real(c, "replay", 0, 1)
    _choice(c, "shift_kind", SHIFT_KINDS)
    if c.event == "domain_shift" and c.shift_kind == "none":
        _fail("shift_kind", c.shift_kind, f"a domain_shift event needs a shift: one of {', '.join(SHIFT_KINDS[1:])}")


_CHECKS = (_check_names, _check_sizes, _check_training, _check_reward, _check_architecture, _check_device,
           _check_event)


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


# --------------------------------------------------------------------------------------------------
# Presets (the registered ids)
# --------------------------------------------------------------------------------------------------

PRESETS: dict[str, EsperConfig] = {
    # Esper-CIFAR10-v0: 45k train / 5k val carved from the 50k training images, the full 10k test set.
    "cifar10": EsperConfig(),
    # Esper-Synthetic-v0: under a minute on 2 CPU cores. The small host is capacity-limited on this data
    # (4x wider scores ~10 points more), so growing capacity has something to win.
    "synthetic": EsperConfig(dataset="synthetic", train_size=15000, val_size=2000, test_size=5000, max_epochs=20,
                             host="small"),
    # Esper-Fast-v0: the RL-scale env (PPO trains on it). A tiny host (8-16-32, ~6k parameters) that is far
    # from saturated (4x wider scores ~5 points more), 1.5k training images, 16 epochs, two slots (after
    # blocks 1 and 2, 15 actions): seconds per episode, and growing it is worth ~4-5 points
    # (benchmarks/performance.py --only fast; the sizes were chosen from a sweep, see docs/performance.md).
    "fast": EsperConfig(dataset="synthetic", train_size=1500, val_size=500, test_size=1000, max_epochs=16,
                        host="tiny", slots=(1, 2), blend_epochs=2, embargo_epochs=1, eval_batch_size=250),
    # Esper-Tiny-v0: under two seconds per episode, for tests and smoke runs (it learns little).
    "tiny": EsperConfig(dataset="synthetic", train_size=1024, val_size=256, test_size=256, max_epochs=14,
                        host="small", blend_epochs=2, embargo_epochs=1, lr=0.1, seed_lr=0.1, eval_batch_size=256),
}


SUBSET_SIZES = dict(dataset="cifar10", train_size=4170, val_size=1000, test_size=1017)
"""The real 5,170-image CIFAR-10 subset: 4,170 training / 1,000 validation images from its training part, and its
1,017 test images (data_root must point at it)."""

SETTINGS: dict[str, dict[str, Any]] = {
    # The project's real-data evaluation: the subset with the small host for 20 epochs (~25 s an episode on one
    # thread); the default host costs ~4x more per epoch. Every script, test and doc uses this entry.
    "cifar10-subset": dict(SUBSET_SIZES, host="small", max_epochs=20),
}
"""Named sets of overrides on Esper-CIFAR10-v0 (``esper ... --env Esper-CIFAR10-v0 --preset NAME``, or
``gym.make("Esper-CIFAR10-v0", **SETTINGS[NAME], data_root=...)``); not ids of their own, so their runs keep
the id and the cache keys of the same settings given one by one."""


def make_config(config: EsperConfig | str | dict | None = None, **overrides: Any) -> EsperConfig:
    """A config from a preset name, a config, or a dict of fields, with ``overrides`` applied."""
    if config is None:
        base = EsperConfig()
    elif isinstance(config, EsperConfig):
        base = config
    elif isinstance(config, str):
        if config not in PRESETS:
            raise ConfigError(f"unknown preset {config!r}; choose one of {', '.join(PRESETS)}")
        base = PRESETS[config]
    elif isinstance(config, dict):
        base = EsperConfig.from_dict(config)
    else:
        raise ConfigError(f"config must be an EsperConfig, a preset name or a dict, got {type(config).__name__}")
    return base.replace(**overrides) if overrides else base


# --------------------------------------------------------------------------------------------------
# Documentation generated from the dataclass
# --------------------------------------------------------------------------------------------------

def field_docs(cls: type = EsperConfig) -> dict[str, str]:
    """Each field's docstring (the string under it), read from a dataclass's source (as CleanRL's tyro does);
    ``esper``'s command-line options take their help from it."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def markdown_table() -> str:
    """The table of fields in docs/environment.md: name, default, per-preset values where they differ, meaning."""
    docs = field_docs()
    names = list(PRESETS)
    head = "| field | " + " | ".join(f"`{n}`" for n in names) + " | meaning |"
    rows = [head, "|" + "---|" * (len(names) + 2)]
    for f in FIELD_NAMES:
        vals = [getattr(PRESETS[n], f) for n in names]
        cells = [f"`{v!r}`".replace("|", "\\|") for v in vals]
        rows.append(f"| `{f}` | " + " | ".join(cells) + f" | {docs[f].replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
