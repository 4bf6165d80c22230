"""EsperEnv: one episode is one training run of the host; one step is one epoch."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from . import __version__
from . import leyline as ly
from .config import EsperConfig, make_config
from .data import DeviceLoader, load_pool, make_splits
from .fileio import atomic_path
from .kasmina import MorphogeneticModel, host_widths
from .training import (
    cosine_lr,
    evaluate,
    evaluate_variants,
    resolve_device,
    resolve_precision,
    set_threads,
    train_epoch,
)

RESET_OPTIONS = {"fossilized": "a mapping {slot index: blueprint name} of seeds fossilized from the start"}
"""The keys ``reset(options=...)`` accepts, and the form of each."""


@dataclass(frozen=True)
class EnvSnapshot:
    """The complete state of an episode between two steps: tensors and plain data only.

    Picklable, and :func:`save_snapshot` writes it as a file that :func:`load_snapshot` reads back with
    ``torch.load(weights_only=True)``, which runs no code from the file.
    """

    version: str
    """Package version that wrote it."""
    config: dict
    """The env's :class:`EsperConfig` as a dict; restore refuses a snapshot of another config."""
    split_seed: int
    model: dict
    """:meth:`MorphogeneticModel.export_state`."""
    loader_rng: torch.Tensor
    np_random: dict
    episode: dict
    """Epoch, counters, histories, the last report, events, FLOPs (plain data)."""


def save_snapshot(path: str | os.PathLike, snapshot: EnvSnapshot, **extra: Any) -> None:
    """Write ``snapshot`` (plus plain ``extra`` data) to ``path`` atomically."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"snapshot": asdict(snapshot), "extra": extra}, tmp)


def load_snapshot(path: str | os.PathLike) -> tuple[EnvSnapshot, dict]:
    """(snapshot, extra) from :func:`save_snapshot`'s file; tensors and plain data only, no code runs."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return EnvSnapshot(**data["snapshot"]), data.get("extra", {})
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to parse means "not a snapshot file"
        raise ValueError(f"{path} is not an Esper snapshot file ({type(e).__name__}: {e})") from None


class EsperEnv(gym.Env):
    """Morphogenetic training of a CIFAR-sized CNN as a control problem.

    ## Description
    A host CNN trains on an image-classification task. Seeds (small modules from a blueprint registry)
    can be grown into slots after the host's blocks. A germinated seed first trains in isolation (the
    host is unaffected), is then blended in as ``host + alpha * seed`` with alpha ramping 0 -> 1 over
    ``blend_epochs``, and is finally fossilized (kept) or culled (removed). The agent ("Tamiyo") decides
    which commands to give and when. One step trains one epoch; the command given at a step takes effect
    for the next epoch.

    ## Action Space
    ``Discrete(1 + S*B + S + S)`` for ``S`` slots and ``B`` blueprints, through
    :class:`esper_env.leyline.ActionCodec`: 0 = WAIT, then GERMINATE(slot, blueprint) slot-major, then
    ADVANCE(slot) (TRAINING -> BLENDING, or BLENDING -> FOSSILIZED once alpha is 1), then CULL(slot).
    ``action_masks()`` (the sb3-contrib convention) and ``info["action_mask"]`` say which are legal now. A
    command that is in the space but not legal is a no-op with a penalty; an action outside the space
    raises ``ValueError``.

    ## Observation Space
    ``Box(-1, 1, (n,), float32)``: :func:`esper_env.leyline.report_to_vector` of the epoch's
    :class:`~esper_env.leyline.TrainingReport` (version ``leyline.OBS_VERSION``; entry names in
    ``env.unwrapped.observation_fields``). The structured report is ``info["report"]``.

    ## Rewards
    ``r_t = (val_acc_t - val_acc_{t-1}) - rent_t - illegal_t``, with accuracies as fractions,
    ``rent_t = rent_coef * (seed + fossilized params) / host params / max_epochs`` and ``illegal_t =
    illegal_penalty`` when the command was not legal. The undiscounted return is therefore final
    validation accuracy minus initial, minus the cost of growth (a seed the size of the host kept for the
    whole episode costs ``rent_coef``). Each term is in ``info["reward_terms"]``. A non-finite training
    loss gives ``-nonfinite_penalty`` and ends the episode.

    ## Starting State
    An untrained host (seeded from ``reset(seed=...)``) with every slot DORMANT, or with the seeds
    ``reset(options={"fossilized": {slot: blueprint}})`` names already fossilized. The first observation
    reports the untrained model's validation loss and accuracy (train fields repeat them). ``options``
    takes no other key.

    ## Episode End
    ``terminated=True`` after ``max_epochs`` steps, or at once on a non-finite loss
    (``info["nonfinite"]``). At the last step ``info["final"]`` is a Leyline
    :class:`~esper_env.leyline.EpisodeOutcome`: test accuracy, parameter counts, FLOPs per image, training
    and evaluation FLOPs spent, the fossilized ``architecture``, the ``live_seeds`` still present and the
    lifecycle ``history``; ``outcome.summary()`` gives flat numbers for TensorBoard. The env never truncates.

    ## Snapshots
    ``state = env.unwrapped.snapshot()`` captures the whole episode (model, optimizer, slots, random
    generators, histories, counters, epoch) as a picklable :class:`EnvSnapshot`;
    ``env.unwrapped.restore(state)`` on an env with the same config continues it bit-identically on CPU
    (through ``gym.make``, reset a fresh env once before restoring: the wrappers want a reset first).
    ``save_snapshot`` / ``load_snapshot`` write and read one as a file of tensors and plain data (loading
    runs no code from the file).

    ## Arguments
    ``EsperEnv(config=None, **overrides)``: ``config`` is an :class:`~esper_env.config.EsperConfig`, a
    preset name ("cifar10", "synthetic", "tiny") or a dict of fields; ``overrides`` replace fields. Every
    field is validated before any data is loaded; see ``EsperConfig`` (or the README's table) for each one.

    ## Registered Configurations
    * ``Esper-CIFAR10-v0`` (preset "cifar10"): real CIFAR-10, 25 epochs, default host (~95k parameters).
    * ``Esper-Synthetic-v0`` ("synthetic"): the offline procedural dataset, 15k train / 2k val / 5k test,
      20 epochs, small host (16-32-64): 30-50 s per episode on 2 CPU cores.
    * ``Esper-Fast-v0`` ("fast"): the RL-scale env, 1.5k training images, tiny host, two slots, 16 epochs:
      5-11 s per episode on 2 CPU cores; growing the host is worth ~4-5 points of test accuracy.
    * ``Esper-Tiny-v0`` ("tiny"): 1k training images, small host, 14 epochs: seconds per episode.

    ## Threads and timings
    The env sets its process's torch CPU threads when built (``threads``; 0 = one thread in a worker
    process such as a ``SubprocVecEnv`` or ``esper compare`` worker, else torch's default): two 2-thread
    processes on 2 cores run ~10x slower than two 1-thread ones. ``env.unwrapped.timings`` holds this
    episode's wall time in training, validation, counterfactual passes and whole steps.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: EsperConfig | str | dict | None = None, **overrides: Any):
        super().__init__()
        self.config = c = make_config(config, **overrides)  # every field checked before data is loaded
        set_threads(c.threads)
        self.device = resolve_device(c.device)
        self.precision = resolve_precision(c.precision, self.device)
        self.widths = host_widths(c.host, c.width)
        self.model_kwargs = dict(slots=c.slots, blueprints=c.blueprints, blend_epochs=c.blend_epochs,
                                 blend_schedule=c.blend_schedule, embargo_epochs=c.embargo_epochs, lr=c.lr,
                                 seed_lr=c.seed_lr, momentum=c.momentum, weight_decay=c.weight_decay)
        self.codec = ly.ActionCodec(len(c.slots), c.blueprints)
        self.schema = ly.ObservationSchema.build(len(c.slots), c.blueprints)
        self.observation_fields = list(self.schema.fields)
        self.action_space = spaces.Discrete(self.codec.n)
        self.observation_space = spaces.Box(-1.0, 1.0, (len(self.observation_fields),), np.float32)
        pool_size = None if c.train_size is None else c.train_size + c.val_size
        self.pool = load_pool(c.dataset, train_pool=pool_size, test_size=c.test_size, data_root=c.data_root,
                              download=c.download, synthetic_seed=c.synthetic_seed)
        self.model: MorphogeneticModel | None = None

    @property
    def max_epochs(self) -> int:
        return self.config.max_epochs

    # ---- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        fossilized = self._check_options(options)
        super().reset(seed=seed)
        split_seed, init_seed, loader_seed, seed_base = (int(s) for s in self.np_random.integers(2**31, size=4))
        self._build(split_seed, init_seed, fossilized)
        self.train_loader.generator.manual_seed(loader_seed)
        self._seed_base = seed_base
        self.epoch, self._ended = 0, False
        self._germinated_at: dict[int, int] = {}
        self._last_cull: dict[str, int] = {}
        self.history = [ly.LifecycleEvent(0, k, ly.SeedStage.FOSSILIZED, b, ly.EventCause.START)
                        for k, b in fossilized.items()]
        self._counts = dict(germinated=0, fossilized=0, culled=0, illegal=0)
        self._flops = dict(train=0.0, eval=0.0)
        self.timings = dict.fromkeys(("train", "validate", "counterfactuals", "step"), 0.0)
        val = self._evaluate(self.val_loader)
        self._val_hist = [val.accuracy] * ly.HISTORY_LEN
        self._loss_hist = [val.loss] * ly.HISTORY_LEN
        self._best, self._plateau = val.accuracy, 0
        self.report = self._make_report(val.loss, val.accuracy, val.loss, val.accuracy, 0.0, val.accuracy,
                                        self._host_lr())
        return ly.report_to_vector(self.report), self._info()

    def step(self, action):
        with self._timed("step"):
            return self._step(action)

    def _step(self, action):
        if self.model is None:
            raise RuntimeError("call reset() before step()")
        if self._ended:
            raise RuntimeError("the episode has ended (terminated=True was returned); call reset()")
        action = self._to_action(action)
        command = self.codec.decode(action)
        legal = bool(self.action_masks()[action])
        if legal:
            self._apply(command)
        else:
            self._counts["illegal"] += 1
        prev = self.report
        lr, stats = self._train_one_epoch()
        terms = {"val_accuracy_delta": 0.0, "rent": self._rent(), "illegal_penalty": 0.0 if legal else
                 self.config.illegal_penalty, "nonfinite_penalty": 0.0}
        with self._timed("validate"):
            val = self._evaluate(self.val_loader) if stats.finite else None
        nonfinite = val is None or not val.finite
        if nonfinite:
            terms["nonfinite_penalty"] = self.config.nonfinite_penalty
            gain = self._record_epoch(float("nan"), 0.0)
            self.report = self._make_report(float("nan"), 0.0, float("nan"), 0.0, gain, prev.train_accuracy, lr,
                                            counterfactuals=False)
        else:
            terms["val_accuracy_delta"] = gain = self._record_epoch(val.loss, val.accuracy)
            self.report = self._make_report(stats.loss, stats.accuracy, val.loss, val.accuracy, gain,
                                            prev.train_accuracy, lr)
        reward = terms["val_accuracy_delta"] - terms["rent"] - terms["illegal_penalty"] - terms["nonfinite_penalty"]
        terminated = nonfinite or self.epoch >= self.max_epochs
        self._ended = terminated
        info = self._info(command=str(command), illegal_command=not legal, reward_terms=terms, nonfinite=nonfinite)
        if terminated:
            info["final"] = self._outcome(nonfinite)
        return ly.report_to_vector(self.report), float(reward), terminated, False, info

    def train_without_reports(self, actions) -> None:
        """Benchmark hook: play the rest of the episode doing only what bare training does -- each epoch's
        command (``actions[epoch]``, WAIT after the list; illegal ones skipped), the learning rates and the
        training epoch; no validation, counterfactuals, reports or rewards. ``benchmarks/performance.py``
        measures the env's overhead against it. The episode is over afterwards: call reset()."""
        if self.model is None or self._ended:
            raise RuntimeError("call reset() before train_without_reports()")
        actions = [self._to_action(a) for a in actions]
        while self.epoch < self.max_epochs:
            action = actions[self.epoch] if self.epoch < len(actions) else 0
            if self.action_masks()[action]:
                self._apply(self.codec.decode(action))
            self._train_one_epoch()
        self._ended = True

    def _train_one_epoch(self):
        """The learning rates, the model's automatic moves around the epoch, one training epoch (FLOPs
        counted, timed); returns (host learning rate, training stats)."""
        lr = self._host_lr()
        self._set_lrs(lr)
        self._tick("start_epoch")
        self._flops["train"] += self.model.train_flops_per_image() * self.train_loader.samples_per_epoch
        with self._timed("train"):
            stats = train_epoch(self.model, self.train_loader, self.precision)
        self._tick("end_epoch")
        self.epoch += 1
        return lr, stats

    def action_masks(self) -> np.ndarray:
        """Which actions are legal now (sb3-contrib's MaskablePPO calls this)."""
        if self.model is None:
            return np.eye(1, self.codec.n, dtype=bool)[0]  # before reset: only WAIT
        return ly.legal_commands(self.codec, self.model.slot_states)

    # ---- snapshots -------------------------------------------------------------------------------
    def snapshot(self) -> EnvSnapshot:
        """The complete state of the episode now (between steps); see :meth:`restore`."""
        if self.model is None:
            raise RuntimeError("call reset() before snapshot(): there is no episode yet")
        episode = dict(
            epoch=self.epoch, ended=self._ended, seed_base=self._seed_base,
            germinated_at={str(k): v for k, v in self._germinated_at.items()}, last_cull=dict(self._last_cull),
            counts=dict(self._counts), flops=dict(self._flops), val_hist=list(self._val_hist),
            loss_hist=list(self._loss_hist), best=self._best, plateau=self._plateau,
            report=self.report.to_dict(),
            history=[dict(epoch=e.epoch, slot=e.slot, stage=int(e.stage), blueprint=e.blueprint, cause=e.cause.value)
                     for e in self.history])
        return EnvSnapshot(version=__version__, config=self.config.to_dict(), split_seed=self._split_seed,
                           model=self.model.export_state(), loader_rng=self.train_loader.generator.get_state(),
                           np_random=self.np_random.bit_generator.state, episode=episode)

    def restore(self, snapshot: EnvSnapshot) -> tuple[np.ndarray, dict]:
        """Continue the episode ``snapshot`` captured; returns (observation, info) as at that moment.

        The env must have been built with the same config (data, sizes, host, slots...). Through
        ``gym.make``, call ``env.reset()`` once first: gymnasium's wrappers refuse a step before a reset."""
        if not isinstance(snapshot, EnvSnapshot):
            raise TypeError(f"restore() takes an EnvSnapshot (from snapshot() or load_snapshot()), "
                            f"got {type(snapshot).__name__}")
        theirs = EsperConfig.from_dict(snapshot.config)
        diff = theirs.differences(self.config)
        if diff:
            raise ValueError("the snapshot was taken with another config (snapshot vs this env): " + "; ".join(diff))
        ep = snapshot.episode
        self._build(snapshot.split_seed, 0, {})
        self.model.import_state(snapshot.model)
        self.train_loader.generator.set_state(snapshot.loader_rng)
        self.np_random.bit_generator.state = snapshot.np_random
        self.epoch, self._ended, self._seed_base = ep["epoch"], ep["ended"], ep["seed_base"]
        self._germinated_at = {int(k): v for k, v in ep["germinated_at"].items()}
        self._last_cull = dict(ep["last_cull"])
        self._counts, self._flops = dict(ep["counts"]), dict(ep["flops"])
        self._val_hist, self._loss_hist = list(ep["val_hist"]), list(ep["loss_hist"])
        self._best, self._plateau = ep["best"], ep["plateau"]
        self.report = ly.TrainingReport.from_dict(ep["report"])
        self.history = [ly.LifecycleEvent(e["epoch"], e["slot"], ly.SeedStage(e["stage"]), e["blueprint"],
                                          ly.EventCause(e["cause"])) for e in ep["history"]]
        return ly.report_to_vector(self.report), self._info()

    # ---- internals -------------------------------------------------------------------------------
    def _check_options(self, options: dict | None) -> dict[int, str]:
        """The fossilized-at-start architecture from ``reset(options=...)``, checked."""
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
        n = len(self.config.slots)
        for k, b in fossilized.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer, str)) or not str(k).isdigit() \
                    or not 0 <= int(k) < n:
                raise ValueError(f"options['fossilized'] has slot {k!r}; slots are 0..{n - 1}")
            if b not in self.config.blueprints:
                raise ValueError(f"options['fossilized'][{k!r}] = {b!r} is not an allowed blueprint; "
                                 f"choose from {', '.join(self.config.blueprints)}")
            out[int(k)] = str(b)
        return out

    def _build(self, split_seed: int, init_seed: int, fossilized: dict[int, str]) -> None:
        """Splits, loaders and a fresh model for an episode."""
        c = self.config
        self._split_seed = split_seed
        splits = make_splits(self.pool, seed=split_seed, train_size=c.train_size, val_size=c.val_size,
                             test_size=c.test_size)
        self.train_loader = DeviceLoader(splits.train_x, splits.train_y, c.batch_size, train=True,
                                         generator=torch.Generator(self.device), device=self.device)
        self.val_loader = DeviceLoader(splits.val_x, splits.val_y, c.eval_batch_size, train=False,
                                       device=self.device)
        self.test_loader = DeviceLoader(splits.test_x, splits.test_y, c.eval_batch_size, train=False,
                                        device=self.device)
        self.model = MorphogeneticModel(self.widths, fossilized=fossilized, init_seed=init_seed,
                                        **self.model_kwargs).to(self.device, memory_format=torch.channels_last)
        table = self.model.flop_table()  # the bare host's training FLOPs over the budget: the compute reference
        self._budget_train_flops = float(3 * (sum(table.blocks) + table.head) * self.train_loader.samples_per_epoch
                                         * self.max_epochs)

    def _to_action(self, action) -> int:
        try:
            a = int(action)
            ok = np.ndim(action) == 0 and a == action and self.action_space.contains(a)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"action {action!r} is outside the action space {self.action_space}; "
                             f"use an integer in 0..{self.action_space.n - 1} (see env.unwrapped.codec)")
        return a

    def _apply(self, command: ly.Command) -> None:
        if command.op == ly.Op.WAIT:
            return
        slot = self.model.slots[command.slot]
        blueprint = command.blueprint or slot.blueprint
        init_seed = (self._seed_base + 7919 * self.epoch + 104729 * command.slot) % 2**31
        self.model.apply(command, init_seed=init_seed)
        self.history.append(ly.LifecycleEvent(self.epoch, command.slot, slot.stage, blueprint, ly.EventCause.COMMAND))
        if command.op == ly.Op.GERMINATE:
            self._germinated_at[command.slot] = self.epoch
            self._counts["germinated"] += 1
        elif command.op == ly.Op.CULL:
            self._counts["culled"] += 1
            self._last_cull[blueprint] = self.epoch
        elif slot.stage == ly.SeedStage.FOSSILIZED:
            self._counts["fossilized"] += 1

    def _tick(self, hook: str) -> None:
        """The model's automatic moves before (``start_epoch``) or after (``end_epoch``) an epoch, logged."""
        before = [(s.stage, s.blueprint) for s in self.model.slots]
        getattr(self.model, hook)()
        when = self.epoch + (hook == "end_epoch")
        for slot, (stage, blueprint) in zip(self.model.slots, before):
            if slot.stage != stage:
                self.history.append(ly.LifecycleEvent(when, slot.index, slot.stage, blueprint, ly.EventCause.AUTOMATIC))

    def _host_lr(self) -> float:
        c = self.config
        return c.lr if c.lr_schedule == "constant" else cosine_lr(c.lr, self.epoch, c.max_epochs)

    def _set_lrs(self, host_lr: float) -> None:
        c = self.config
        for group in self.model.optimizer.param_groups:
            if group["name"] == "host":
                group["lr"] = host_lr
            else:  # a live seed: its own cosine from germination to the end of the budget
                start = self._germinated_at[int(group["name"][4:])]
                group["lr"] = c.seed_lr if c.lr_schedule == "constant" else cosine_lr(
                    c.seed_lr, self.epoch - start, c.max_epochs - start)

    def _rent(self) -> float:
        added = self.model.seed_params() + self.model.fossilized_params
        return self.config.rent_coef * added / self.model.host_params / self.max_epochs

    def _evaluate(self, loader: DeviceLoader, alpha: dict[int, float] | None = None, batch_stats: bool = False,
                  count: bool = True):
        """:func:`evaluate`, with its FLOPs added to the evaluation total."""
        if count:
            self._flops["eval"] += self.model.flops_per_image(alpha) * loader.samples_per_epoch
        return evaluate(self.model, loader, self.precision, alpha, batch_stats=batch_stats)

    @contextmanager
    def _timed(self, part: str):
        """Add the block's wall time to ``self.timings[part]`` (seconds this episode; see the class doc)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            if hasattr(self, "timings"):
                self.timings[part] += time.perf_counter() - start

    def _counterfactuals(self) -> list[tuple[float, float]]:
        """(contribution, potential) of each slot's seed on the validation split, measured with batch
        statistics on every side (see :func:`esper_env.training.evaluate`): current alphas, each seed at
        alpha 0 and at alpha 1 -- one pass over the data that shares the network's common prefix."""
        if all(s.seed is None for s in self.model.slots):
            return [(0.0, 0.0)] * len(self.model.slots)
        variants: list[dict[int, float]] = [{}]
        index: dict[tuple[int, float], int] = {}
        for slot in self.model.slots:
            for a in (0.0, 1.0):
                if slot.seed is not None and slot.alpha != a:
                    index[slot.index, a] = len(variants)
                    variants.append({slot.index: a})
        self._flops["eval"] += self.model.variants_flops_per_image(variants) * self.val_loader.samples_per_epoch
        with self._timed("counterfactuals"):
            accs = [r.accuracy for r in evaluate_variants(self.model, self.val_loader, self.precision, variants,
                                                          batch_stats=True)]
        out = []
        for slot in self.model.slots:
            if slot.seed is None:
                out.append((0.0, 0.0))
                continue
            without, full = (accs[index.get((slot.index, a), 0)] for a in (0.0, 1.0))
            out.append((accs[0] - without, full - without))
        return out

    def _record_epoch(self, val_loss: float, val_acc: float) -> float:
        """Update the plateau counter, best and histories with a finished epoch; return its val gain."""
        gain = val_acc - self._val_hist[-1]
        self._val_hist = self._val_hist[1:] + [val_acc]
        self._loss_hist = self._loss_hist[1:] + [val_loss]
        self._plateau = ly.plateau_epochs(self._plateau, self._val_hist, self.config.plateau_window,
                                          self.config.plateau_threshold, self.epoch)
        self._best = max(self._best, val_acc)
        return gain

    def _make_report(self, train_loss: float, train_acc: float, val_loss: float, val_acc: float,
                     delta_val: float, prev_train_acc: float, lr: float,
                     counterfactuals: bool = True) -> ly.TrainingReport:
        slots = []
        measures = self._counterfactuals() if counterfactuals else [(0.0, 0.0)] * len(self.model.slots)
        for slot, (contribution, potential) in zip(self.model.slots, measures):
            slots.append(ly.SlotReport(
                index=slot.index, stage=slot.stage, blueprint=slot.blueprint, alpha=slot.alpha,
                epochs_in_stage=slot.epochs_in_stage, seed_params=slot.param_count,
                embargo_left=slot.embargo_left, blend_complete=slot.blend_complete,
                contribution=contribution, potential=potential))
        c = self.config
        since = tuple(self.epoch - self._last_cull[b] if b in self._last_cull else -1 for b in c.blueprints)
        return ly.TrainingReport(
            epoch=self.epoch, max_epochs=self.max_epochs, train_loss=train_loss, train_accuracy=train_acc,
            val_loss=val_loss, val_accuracy=val_acc, delta_train_accuracy=train_acc - prev_train_acc,
            delta_val_accuracy=delta_val, best_val_accuracy=self._best,
            plateau_epochs=self._plateau, val_accuracy_history=tuple(self._val_hist),
            val_loss_history=tuple(self._loss_hist), host_params=self.model.host_params,
            seed_params=self.model.seed_params(), fossilized_params=self.model.fossilized_params,
            lr=lr, base_lr=c.lr, slots=tuple(slots), blueprints=c.blueprints,
            seeds_germinated=self._counts["germinated"], epochs_since_cull=since,
            train_flops=self._flops["train"], eval_flops=self._flops["eval"],
            budget_train_flops=self._budget_train_flops)

    def _info(self, **extra) -> dict:
        return {"report": self.report, "action_mask": self.action_masks(), **extra}

    def _outcome(self, nonfinite: bool) -> ly.EpisodeOutcome:
        test = self._evaluate(self.test_loader, count=False)
        m = self.model
        return ly.EpisodeOutcome(
            test_accuracy=test.accuracy if math.isfinite(test.loss) else 0.0, test_loss=test.loss,
            val_accuracy=self.report.val_accuracy, best_val_accuracy=self.report.best_val_accuracy,
            epochs=self.epoch, nonfinite=nonfinite, host_params=m.host_params, seed_params=m.seed_params(),
            fossilized_params=m.fossilized_params, total_params=m.total_params, flops_per_image=m.flops_per_image(),
            train_flops=self._flops["train"], eval_flops=self._flops["eval"],
            seeds_germinated=self._counts["germinated"], seeds_fossilized=self._counts["fossilized"],
            seeds_culled=self._counts["culled"], illegal_commands=self._counts["illegal"],
            architecture=tuple((s.index, s.blueprint) for s in m.slots if s.stage == ly.SeedStage.FOSSILIZED),
            live_seeds=tuple(ly.SeedOutcome(s.index, s.blueprint, s.stage, s.alpha) for s in m.slots
                             if s.seed is not None and s.stage != ly.SeedStage.FOSSILIZED),
            history=tuple(self.history))
