"""EsperEnv: one episode is one training run of the host; one step is one epoch.

The class holds the Gymnasium API and the order of things in an epoch; the episode's bookkeeping is an
:class:`~esper_env.episode.EpisodeState`, reports and the outcome are built in :mod:`esper_env.reporting`,
and snapshots are :class:`~esper_env.snapshot.EnvSnapshot`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from . import leyline as ly
from ._version import __version__
from .config import EsperConfig, make_config
from .data import DeviceLoader, check_pool_fits, load_pool, make_splits
from .episode import RESET_OPTIONS, EpisodeState, check_reset_options
from .kasmina import MorphogeneticModel, flops, host_widths
from .reporting import EpochNumbers, build_outcome, build_report, counterfactuals, rent
from .snapshot import EnvSnapshot, load_snapshot, save_snapshot
from .training import (
    evaluate,
    host_lr,
    resolve_device,
    resolve_precision,
    set_learning_rates,
    set_threads,
    train_epoch,
)
from .variants import VARIANTS, EpisodeLoaders, EpisodeVariant

__all__ = ["RESET_OPTIONS", "EnvSnapshot", "EsperEnv", "load_snapshot", "save_snapshot", "train_without_reports"]


def _check_action(space: spaces.Discrete, action) -> int:
    """``action`` as an int, or a ValueError saying what the space takes."""
    try:
        a = int(action)
        ok = np.ndim(action) == 0 and a == action and space.contains(a)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"action {action!r} is outside the action space {space}; "
                         f"use an integer in 0..{space.n - 1} (see env.unwrapped.codec)")
    return a


@contextmanager
def _timed(timings: dict[str, float], part: str):
    """Add the block's wall time to ``timings[part]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[part] += time.perf_counter() - start


def _loaders(pool, c: EsperConfig, split_seed: int, device: torch.device):
    """(train, validation, test) loaders of one episode's split of ``pool``."""
    sp = make_splits(pool, seed=split_seed, train_size=c.train_size, val_size=c.val_size, test_size=c.test_size)
    return (DeviceLoader(sp.train_x, sp.train_y, c.batch_size, train=True, generator=torch.Generator(device),
                         device=device),
            DeviceLoader(sp.val_x, sp.val_y, c.eval_batch_size, train=False, device=device),
            DeviceLoader(sp.test_x, sp.test_y, c.eval_batch_size, train=False, device=device))


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
    ``Discrete(22)`` in every Esper env (the *common layout*): 3 slot positions (after host blocks 0, 1, 2) and
    5 blueprints (``leyline.LAYOUT_BLUEPRINTS``), through :class:`esper_env.leyline.ActionCodec`: 0 = WAIT, then
    GERMINATE(slot, blueprint) slot-major, then ADVANCE(slot) (TRAINING -> BLENDING, or BLENDING -> FOSSILIZED
    once alpha is 1), then CULL(slot). A slot position or blueprint the config does not enable (``slots``,
    ``blueprints``) is never legal. ``action_masks()`` (the sb3-contrib convention) and ``info["action_mask"]``
    say which are legal now. A command that is in the space but not legal is a no-op with a penalty; an action
    outside the space raises ``ValueError``.

    ## Observation Space
    ``Box(-1, 1, (n,), float32)``, the same ``n`` in every Esper env: :func:`esper_env.leyline.report_to_vector`
    of the epoch's :class:`~esper_env.leyline.TrainingReport` (version ``leyline.OBS_VERSION``; entry names in
    ``env.unwrapped.observation_fields``): training signals, the task's context (``task_*``: host size and
    width, data, budget, learning rates, lifecycle lengths), which blueprints are enabled, and per slot
    position its state (all zeros, ``slot{p}_enabled`` 0, where the config has no slot). The structured report
    is ``info["report"]``.

    ## Rewards
    ``r_t = (val_acc_t - val_acc_{t-1}) - rent_t - illegal_t``, with accuracies as fractions,
    ``rent_t = rent_coef * (seed + fossilized params) / host params / max_epochs`` and ``illegal_t =
    illegal_penalty`` when the command was not legal. The undiscounted return is therefore final
    validation accuracy minus initial, minus the cost of growth (a seed the size of the host kept for the
    whole episode costs ``rent_coef``). Each term is in ``info["reward_terms"]``. A non-finite training
    loss gives ``-nonfinite_penalty`` and ends the episode.

    ## Starting State
    An untrained host (seeded from ``reset(seed=...)``) with every slot DORMANT, or with the seeds
    ``reset(options={"fossilized": {position: blueprint}})`` names already fossilized. The first observation
    reports the untrained model's validation loss and accuracy (train fields repeat them). ``options``
    takes no other key.

    ## Episode End
    ``terminated=True`` after ``max_epochs`` steps, or at once on a non-finite loss
    (``info["nonfinite"]``). At the last step ``info["final"]`` is a Leyline
    :class:`~esper_env.leyline.EpisodeOutcome`: test accuracy, parameter counts, FLOPs per image, training
    and evaluation FLOPs spent, the fossilized ``architecture``, the ``live_seeds`` still present and the
    lifecycle ``history``; ``outcome.summary()`` gives flat numbers for TensorBoard. The env never truncates.

    ## Snapshots
    ``snap = env.unwrapped.snapshot()`` captures the whole episode as a picklable :class:`EnvSnapshot`;
    ``env.unwrapped.restore(snap)`` on an env of the same config continues it bit-identically on CPU (reset a
    ``gym.make`` env once first). ``save_snapshot`` / ``load_snapshot``: a file of tensors and plain data.

    ## Arguments
    ``EsperEnv(config=None, **overrides)``: ``config`` is an :class:`~esper_env.config.EsperConfig`, a preset
    name (:data:`esper_env.config.PRESETS`: the registered ids ``Esper-CIFAR10-v0``, ``-Synthetic-v0``, ``-Fast-v0``,
    ``-Tiny-v0``) or a dict of fields; ``overrides`` replace fields, each validated before any data is loaded.

    ## Episode variants
    What an epoch trains and validates on, and what happens to a germinated seed: ``variant_class`` (an
    :class:`~esper_env.variants.EpisodeVariant`, stationary by default), built per episode by :meth:`make_variant`.

    ## Threads and timings
    The env sets its process's torch CPU threads when built (``threads``; 0 = one thread in a worker process,
    else torch's default). ``env.unwrapped.timings``: this episode's seconds in training, validation,
    counterfactual passes and whole steps; ``env.unwrapped.state``: its :class:`EpisodeState`.
    """

    metadata = {"render_modes": []}
    variant_class: type[EpisodeVariant] = EpisodeVariant
    """The episode variant this env plays (see :mod:`esper_env.variants`)."""

    def __init__(self, config: EsperConfig | str | dict | None = None, **overrides: Any):
        super().__init__()
        self.config = c = make_config(config, **overrides)  # every field checked before data is loaded
        set_threads(c.threads)
        self.device = resolve_device(c.device)
        self.precision = resolve_precision(c.precision, self.device)
        self.widths = host_widths(c.host, c.width)
        self.codec = ly.ActionCodec.layout()  # the common layout: every env has the same spaces
        self.schema = ly.ObservationSchema.build()
        self.observation_fields = list(self.schema.fields)
        self.action_space = spaces.Discrete(self.codec.n)
        self.observation_space = spaces.Box(-1.0, 1.0, (len(self.observation_fields),), np.float32)
        pool_size = None if c.train_size is None else c.train_size + c.val_size
        self.pool = load_pool(c.dataset, train_pool=pool_size, test_size=c.test_size, data_root=c.data_root,
                              download=c.download, synthetic_seed=c.synthetic_seed, image_size=c.image_size)
        check_pool_fits(self.pool, c.train_images, c.val_size, c.test_size, f"the {c.dataset} data ({c.data_root})")
        self.model: MorphogeneticModel | None = None
        self.timings = dict.fromkeys(("train", "validate", "counterfactuals", "step"), 0.0)
        self.state: EpisodeState | None = None
        """This episode's bookkeeping (epoch, counters, histories, last report, lifecycle history)."""

    max_epochs = property(lambda self: self.config.max_epochs)
    epoch = property(lambda self: self.state.epoch)
    report = property(lambda self: self.state.report, doc="The last report (a leyline TrainingReport).")

    # ---- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        fossilized = {self.config.slots.index(p): b for p, b in
                      check_reset_options(options, self.config.slots, self.config.blueprints).items()}
        super().reset(seed=seed)
        split_seed, init_seed, loader_seed, seed_base = (int(s) for s in self.np_random.integers(2**31, size=4))
        self._build(split_seed, init_seed, fossilized)
        self.train_loader.generator.manual_seed(loader_seed)
        self.timings = dict.fromkeys(("train", "validate", "counterfactuals", "step"), 0.0)
        self.state = EpisodeState.start(seed_base, fossilized)
        self.variant = self.make_variant(seed_base)
        val = self._evaluate(self.variant.val_loader(self.epoch, self._loaders))
        self.state.first_validation(val.loss, val.accuracy)
        self.state.report = self._report(EpochNumbers(val.loss, val.accuracy, val.loss, val.accuracy, 0.0,
                                                      val.accuracy, self._host_lr()))
        return ly.report_to_vector(self.report), self._info()

    def step(self, action):
        with _timed(self.timings, "step"):
            return self._step(action)

    def _step(self, action):
        if self.model is None:
            raise RuntimeError("call reset() before step()")
        if self.state.ended:
            raise RuntimeError("the episode has ended (terminated=True was returned); call reset()")
        action = _check_action(self.action_space, action)
        command = self.codec.decode(action)
        legal = bool(self.action_masks()[action])
        if legal:
            self._apply(command)
        else:
            self.state.counts.illegal += 1
        prev, c = self.report, self.config
        lr, stats = self._train_one_epoch()
        with _timed(self.timings, "validate"):
            val = self._evaluate(self.variant.val_loader(self.epoch, self._loaders)) if stats.finite else None
        nonfinite = val is None or not val.finite
        nan = (float("nan"), 0.0)
        train_n, val_n = (nan, nan) if nonfinite else ((stats.loss, stats.accuracy), (val.loss, val.accuracy))
        gain = self.state.record_epoch(*val_n, c.plateau_window, c.plateau_threshold)
        numbers = EpochNumbers(*train_n, *val_n, gain, prev.train_accuracy, lr, stats.isolated)
        terms = {"val_accuracy_delta": 0.0 if nonfinite else gain, "rent": rent(self.model, c),
                 "illegal_penalty": 0.0 if legal else c.illegal_penalty,
                 "nonfinite_penalty": c.nonfinite_penalty if nonfinite else 0.0}
        self.state.report = self._report(numbers, measure=not nonfinite)
        reward = terms["val_accuracy_delta"] - terms["rent"] - terms["illegal_penalty"] - terms["nonfinite_penalty"]
        terminated = self.state.ended = nonfinite or self.epoch >= self.max_epochs
        info = self._info(command=str(command), illegal_command=not legal, reward_terms=terms, nonfinite=nonfinite)
        if terminated:
            info["final"] = final_outcome(self, nonfinite)
        return ly.report_to_vector(self.report), float(reward), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """Which actions are legal now (sb3-contrib's MaskablePPO calls this)."""
        if self.model is None:
            return np.eye(1, self.codec.n, dtype=bool)[0]  # before reset: only WAIT
        c = self.config
        return ly.legal_commands(self.codec, dict(zip(c.slots, self.model.slot_states)), c.blueprints)

    # ---- snapshots -------------------------------------------------------------------------------
    def snapshot(self) -> EnvSnapshot:
        """The complete state of the episode now (between steps); see :meth:`restore`."""
        if self.model is None:
            raise RuntimeError("call reset() before snapshot(): there is no episode yet")
        return EnvSnapshot(version=__version__, config=self.config.to_dict(), split_seed=self._split_seed,
                           model=self.model.export_state(), loader_rng=self.train_loader.generator.get_state(),
                           np_random=self.np_random.bit_generator.state, episode=self.state.to_dict(),
                           obs_version=ly.OBS_VERSION)

    def restore(self, snapshot: EnvSnapshot) -> tuple[np.ndarray, dict]:
        """Continue the episode ``snapshot`` captured; returns (observation, info) as at that moment.

        The env must have been built with the same config (data, sizes, host, slots...). Through
        ``gym.make``, call ``env.reset()`` once first: gymnasium's wrappers refuse a step before a reset."""
        if not isinstance(snapshot, EnvSnapshot):
            raise TypeError(f"restore() takes an EnvSnapshot (from snapshot() or load_snapshot()), "
                            f"got {type(snapshot).__name__}")
        snapshot.check_restorable(self.config.to_dict(), ly.OBS_VERSION)
        self._build(snapshot.split_seed, 0, {})
        self.model.import_state(snapshot.model)
        self.train_loader.generator.set_state(snapshot.loader_rng)
        self.np_random.bit_generator.state = snapshot.np_random
        self.state = EpisodeState.from_dict(snapshot.episode)
        self.variant = self.make_variant(self.state.seed_base)
        return ly.report_to_vector(self.report), self._info()

    def make_variant(self, seed: int) -> EpisodeVariant:
        """The episode-variant hook: ``variant_class``, else the config's ``event`` (at reset and at restore)."""
        cls = self.variant_class if self.variant_class is not EpisodeVariant else VARIANTS[self.config.event]
        return cls(self.config, seed)

    # ---- internals -------------------------------------------------------------------------------
    def _build(self, split_seed: int, init_seed: int, fossilized: dict[int, str]) -> None:
        """Splits, loaders and a fresh model for an episode."""
        c = self.config
        self._split_seed = split_seed
        self._loaders = loaders = EpisodeLoaders(*_loaders(self.pool, c, split_seed, self.device))
        self.train_loader, self.val_loader, self.test_loader = loaders.train, loaders.val, loaders.test
        self.model = MorphogeneticModel(self.widths, fossilized=fossilized, init_seed=init_seed,
                                        **c.model_settings()).to(self.device, memory_format=torch.channels_last)
        # The bare host's training FLOPs over the budget: the compute reference of the report.
        self._budget_train_flops = float(flops.bare_host_training(self.model) * self.train_loader.samples_per_epoch
                                         * self.max_epochs)

    def _apply(self, command: ly.Command) -> None:
        """Carry out a legal command (its slot is a position; the model numbers its own slots)."""
        if command.op == ly.Op.WAIT:
            return
        k = self.config.slots.index(command.slot)
        command = ly.Command(command.op, k, command.blueprint)
        st, slot = self.state, self.model.slots[k]
        blueprint = command.blueprint or slot.blueprint
        self.model.apply(command, init_seed=(st.seed_base + 7919 * st.epoch + 104729 * k) % 2**31)
        if command.op == ly.Op.GERMINATE:
            self.variant.germinated(slot, st.epoch)
        st.record_command(command, slot.stage, blueprint)

    def _train_one_epoch(self):
        """Learning rates, the model's automatic moves, one training epoch (FLOPs counted, timed); (host lr, stats)."""
        c, lr, st = self.config, self._host_lr(), self.state
        set_learning_rates(self.model, lr, c.seed_lr, c.lr_schedule, self.epoch, c.max_epochs, st.germinated_at,
                           self.variant.seed_lr_scale)
        self.state.log_automatic(self.model, "start_epoch")
        loader = self.variant.train_loader(self.epoch, self._loaders)
        self.state.flops.train += flops.training(self.model) * loader.samples_per_epoch
        with _timed(self.timings, "train"):
            stats = train_epoch(self.model, loader, self.precision)
        self.state.log_automatic(self.model, "end_epoch")
        self.state.epoch += 1
        return lr, stats

    def _host_lr(self) -> float:
        return host_lr(self.config.lr, self.config.lr_schedule, self.epoch, self.config.max_epochs)

    def _evaluate(self, loader: DeviceLoader, count: bool = True):
        """:func:`evaluate`, with its FLOPs added to the evaluation total."""
        if count:
            self.state.flops.eval += self.model.flops_per_image() * loader.samples_per_epoch
        return evaluate(self.model, loader, self.precision)

    def _report(self, numbers: EpochNumbers, measure: bool = True) -> ly.TrainingReport:
        """The report of the epoch just trained, with the counterfactual measures unless ``measure`` is off."""
        with _timed(self.timings, "counterfactuals"):
            val = self.variant.val_loader(self.epoch, self._loaders)
            measures = counterfactuals(self.model, val, self.precision, self.state) if measure \
                else [(0.0, 0.0)] * len(self.model.slots)
        return build_report(self.model, self.state, self.config, numbers, measures, self._budget_train_flops)

    def _info(self, **extra) -> dict:
        return {"report": self.report, "action_mask": self.action_masks(), **extra}


def final_outcome(env: EsperEnv, nonfinite: bool) -> ly.EpisodeOutcome:
    """The episode's outcome: the final test pass on the variant's test set (and on the old one, where the data
    changed mid-episode)."""
    old = env.variant.old_test_loader(env._loaders)
    return build_outcome(env.model, env.state, env.config, env._evaluate(env.variant.test_loader(env._loaders),
                                                                        count=False), nonfinite,
                         None if old is None else env._evaluate(old, count=False))


def train_without_reports(env: EsperEnv, actions) -> None:
    """Benchmark hook (``benchmarks/perf/performance.py``): the rest of ``env``'s episode as bare training, each
    epoch's command ``actions[epoch]`` (WAIT after the list, illegal ones skipped); no validation, reports or
    rewards."""
    if env.model is None or env.state.ended:
        raise RuntimeError("call reset() before train_without_reports()")
    actions = [_check_action(env.action_space, a) for a in actions]
    while env.epoch < env.max_epochs:
        action = actions[env.epoch] if env.epoch < len(actions) else 0
        if env.action_masks()[action]:
            env._apply(env.codec.decode(action))
        env._train_one_epoch()
    env.state.ended = True
