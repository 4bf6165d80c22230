"""EsperEnv: one episode is one training run of the host; one step is one epoch."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from . import leyline as ly
from .data import DeviceLoader, load_pool, make_splits
from .kasmina import DEFAULT_BLUEPRINTS, MorphogeneticModel, host_widths
from .training import cosine_lr, evaluate, resolve_device, resolve_precision, train_epoch

CIFAR10_DEFAULTS: dict[str, Any] = dict(
    dataset="cifar10", train_size=None, val_size=5000, test_size=None, max_epochs=25, host="default")
"""Esper-CIFAR10-v0: 45k train / 5k val carved from the 50k training images, the full 10k test set."""
SYNTHETIC_DEFAULTS: dict[str, Any] = dict(
    dataset="synthetic", train_size=15000, val_size=2000, test_size=5000, max_epochs=20, host="small",
    batch_size=128, lr=0.05)
"""Esper-Synthetic-v0: sized so an episode takes under a minute on 2 CPU cores (30-50 s). The small host
(16-32-64, ~24k parameters) is capacity-limited on this data -- 4x wider scores ~20 points more -- so
growing capacity has something to win."""
TINY_DEFAULTS: dict[str, Any] = dict(
    dataset="synthetic", train_size=1024, val_size=256, test_size=256, max_epochs=14, host="small",
    batch_size=128, blend_epochs=2, embargo_epochs=1, lr=0.1, seed_lr=0.1, eval_batch_size=256)
"""Esper-Tiny-v0: under two seconds per episode, for tests and smoke runs (it learns little: ~25% val)."""


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
    reports the untrained model's validation loss and accuracy (train fields repeat them).

    ## Episode End
    ``terminated=True`` after ``max_epochs`` steps, or at once on a non-finite loss
    (``info["nonfinite"]``). At the last step ``info["final"]`` holds the test accuracy, parameter
    counts, FLOPs per image, the fossilized ``architecture``, every ``seeds`` entry still present (stage,
    alpha) and the lifecycle history, and ``info["episode_summary"]`` flat numbers for
    TensorBoard. The env never truncates.

    ## Arguments
    ``dataset`` ("cifar10" | "synthetic"), ``data_root`` (folder holding ``cifar-10-batches-py``; default
    ``$ESPER_DATA_DIR`` or ``~/.cache/esper``), ``download``, ``train_size``/``val_size``/``test_size``
    (None = all that remain), ``max_epochs``, ``host`` preset ("default" | "small" | "tiny"), ``width``
    multiplier, ``slots`` (block indices with a slot), ``blueprints`` (allowed in GERMINATE),
    ``batch_size``, ``eval_batch_size``, ``lr`` (host, cosine-decayed to 0 over ``max_epochs``),
    ``seed_lr`` (a seed's rate, cosine-decayed from germination to the end of the budget; fossilized seeds
    then follow the host's), ``momentum``, ``weight_decay``, ``lr_schedule`` ("cosine" | "constant"),
    ``blend_epochs``, ``blend_schedule`` ("linear" | "cosine"), ``embargo_epochs``, ``rent_coef``,
    ``illegal_penalty``, ``nonfinite_penalty``, ``plateau_threshold`` (val-accuracy gain below which an
    epoch counts as a plateau epoch), ``device`` ("auto" = CUDA when present), ``precision`` ("auto" =
    bfloat16 autocast where the hardware has it), ``synthetic_seed`` (which synthetic dataset).

    ## Registered Configurations
    * ``Esper-CIFAR10-v0``: real CIFAR-10, 25 epochs, default host (~95k parameters).
    * ``Esper-Synthetic-v0``: the offline procedural dataset, 15k train / 2k val / 5k test, 20 epochs,
      small host (16-32-64): 30-50 s per episode on 2 CPU cores.
    * ``Esper-Tiny-v0``: 1k training images, small host, 14 epochs: under 2 s per episode, for tests.
    """

    metadata = {"render_modes": []}

    def __init__(self, dataset: str = "cifar10", data_root: str | None = None, download: bool = False,
                 train_size: int | None = None, val_size: int = 5000, test_size: int | None = None,
                 max_epochs: int = 25, host: str = "default", width: float = 1.0,
                 slots: tuple[int, ...] = (0, 1, 2), blueprints: tuple[str, ...] = DEFAULT_BLUEPRINTS,
                 batch_size: int = 128, eval_batch_size: int = 500, lr: float = 0.05, seed_lr: float = 0.05,
                 momentum: float = 0.9, weight_decay: float = 5e-4, lr_schedule: str = "cosine",
                 blend_epochs: int = 3, blend_schedule: str = "linear", embargo_epochs: int = 2,
                 rent_coef: float = 0.02, illegal_penalty: float = 0.01, nonfinite_penalty: float = 1.0,
                 plateau_threshold: float = 0.005, device: str = "auto", precision: str = "auto",
                 synthetic_seed: int = 0):
        super().__init__()
        if max_epochs < 1:
            raise ValueError("max_epochs must be >= 1")
        if lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {lr_schedule!r}")
        self.widths = host_widths(host, width)
        self.slot_blocks = tuple(int(s) for s in slots)
        self.blueprints = tuple(blueprints)
        self.max_epochs = int(max_epochs)
        self.sizes = dict(train_size=train_size, val_size=val_size, test_size=test_size)
        self.batch_size, self.eval_batch_size = int(batch_size), int(eval_batch_size)
        self.model_kwargs = dict(slots=self.slot_blocks, blueprints=self.blueprints, blend_epochs=blend_epochs,
                                 blend_schedule=blend_schedule, embargo_epochs=embargo_epochs, lr=lr,
                                 seed_lr=seed_lr, momentum=momentum, weight_decay=weight_decay)
        self.lr, self.seed_lr, self.lr_schedule = float(lr), float(seed_lr), lr_schedule
        self.rent_coef, self.illegal_penalty = float(rent_coef), float(illegal_penalty)
        self.nonfinite_penalty, self.plateau_threshold = float(nonfinite_penalty), float(plateau_threshold)
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        # Validates every constructor argument that the model checks, before the (slow) data load.
        MorphogeneticModel(self.widths, **self.model_kwargs)

        self.codec = ly.ActionCodec(len(self.slot_blocks), self.blueprints)
        self.observation_fields = ly.observation_fields(len(self.slot_blocks), self.blueprints)
        self.action_space = spaces.Discrete(self.codec.n)
        self.observation_space = spaces.Box(-1.0, 1.0, (len(self.observation_fields),), np.float32)
        pool_size = None if train_size is None else train_size + val_size
        self.pool = load_pool(dataset, train_pool=pool_size, test_size=test_size, data_root=data_root,
                              download=download, synthetic_seed=synthetic_seed)
        self.model: MorphogeneticModel | None = None

    # ---- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        split_seed, init_seed, loader_seed, self._seed_base = (int(s) for s in self.np_random.integers(2**31, size=4))
        fossilized = {int(k): str(v) for k, v in ((options or {}).get("fossilized") or {}).items()}
        splits = make_splits(self.pool, seed=split_seed, **self.sizes)
        gen = torch.Generator().manual_seed(loader_seed)
        self.train_loader = DeviceLoader(splits.train_x, splits.train_y, self.batch_size, train=True,
                                         generator=gen, device=self.device)
        self.val_loader = DeviceLoader(splits.val_x, splits.val_y, self.eval_batch_size, train=False,
                                       device=self.device)
        self.test_loader = DeviceLoader(splits.test_x, splits.test_y, self.eval_batch_size, train=False,
                                        device=self.device)
        self.model = MorphogeneticModel(self.widths, fossilized=fossilized, init_seed=init_seed,
                                        **self.model_kwargs).to(self.device, memory_format=torch.channels_last)
        self.epoch, self._ended = 0, False
        self._germinated_at: dict[int, int] = {}
        self.history: list[dict] = [dict(epoch=0, slot=k, event="fossilized at start", blueprint=b)
                                    for k, b in fossilized.items()]
        self._counts = dict(germinated=0, fossilized=0, culled=0, illegal=0)
        val = evaluate(self.model, self.val_loader, self.precision)
        self._val_hist = [val.accuracy] * ly.HISTORY_LEN
        self._loss_hist = [val.loss] * ly.HISTORY_LEN
        self._best, self._plateau = val.accuracy, 0
        self.report = self._make_report(val.loss, val.accuracy, val.loss, val.accuracy, 0.0, val.accuracy,
                                        self._host_lr())
        return ly.report_to_vector(self.report), self._info()

    def step(self, action):
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
        lr = self._host_lr()
        self._set_lrs(lr)
        for slot in self.model.slots:
            before = slot.stage
            slot.start_epoch()
            if slot.stage != before:
                self.history.append(dict(epoch=self.epoch, slot=slot.index, event=slot.stage.name.lower(),
                                         blueprint=slot.blueprint))
        stats = train_epoch(self.model, self.train_loader, self.precision)
        self.model.end_epoch()
        self.epoch += 1
        terms = {"val_accuracy_delta": 0.0, "rent": self._rent(), "illegal_penalty": 0.0 if legal else
                 self.illegal_penalty, "nonfinite_penalty": 0.0}
        val = evaluate(self.model, self.val_loader, self.precision) if stats.finite else None
        nonfinite = val is None or not val.finite
        if nonfinite:
            terms["nonfinite_penalty"] = self.nonfinite_penalty
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
            info.update(self._final_info(nonfinite))
        return ly.report_to_vector(self.report), float(reward), terminated, False, info

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

    def action_masks(self) -> np.ndarray:
        """Which actions are legal now (sb3-contrib's MaskablePPO calls this)."""
        if self.model is None:
            return np.eye(1, self.codec.n, dtype=bool)[0]  # before reset: only WAIT
        return ly.legal_commands(self.codec, self.model.slot_states)

    # ---- internals -------------------------------------------------------------------------------
    def _apply(self, command: ly.Command) -> None:
        if command.op == ly.Op.WAIT:
            return
        slot = self.model.slots[command.slot]
        init_seed = (self._seed_base + 7919 * self.epoch + 104729 * command.slot) % 2**31
        self.model.apply(command, init_seed=init_seed)
        event = {ly.Op.GERMINATE: "germinate", ly.Op.CULL: "cull"}.get(command.op, slot.stage.name.lower())
        self.history.append(dict(epoch=self.epoch, slot=command.slot, event=event,
                                 blueprint=command.blueprint or slot.blueprint))
        if command.op == ly.Op.GERMINATE:
            self._germinated_at[command.slot] = self.epoch
            self._counts["germinated"] += 1
        elif command.op == ly.Op.CULL:
            self._counts["culled"] += 1
        elif slot.stage == ly.SeedStage.FOSSILIZED:
            self._counts["fossilized"] += 1

    def _host_lr(self) -> float:
        return self.lr if self.lr_schedule == "constant" else cosine_lr(self.lr, self.epoch, self.max_epochs)

    def _set_lrs(self, host_lr: float) -> None:
        for group in self.model.optimizer.param_groups:
            if group["name"] == "host":
                group["lr"] = host_lr
            else:  # a live seed: its own cosine from germination to the end of the budget
                start = self._germinated_at[int(group["name"][4:])]
                group["lr"] = self.seed_lr if self.lr_schedule == "constant" else cosine_lr(
                    self.seed_lr, self.epoch - start, self.max_epochs - start)

    def _rent(self) -> float:
        added = self.model.seed_params() + self.model.fossilized_params
        return self.rent_coef * added / self.model.host_params / self.max_epochs

    def _counterfactuals(self) -> list[tuple[float, float]]:
        """(contribution, potential) of each slot's seed on the validation split, measured with batch
        statistics on every side (see :func:`esper_env.training.evaluate`)."""
        if all(s.seed is None for s in self.model.slots):
            return [(0.0, 0.0)] * len(self.model.slots)
        acc = lambda alpha: evaluate(self.model, self.val_loader, self.precision, alpha,  # noqa: E731
                                     batch_stats=True).accuracy
        current = acc(None)
        out = []
        for slot in self.model.slots:
            if slot.seed is None:
                out.append((0.0, 0.0))
                continue
            without = current if slot.alpha == 0.0 else acc({slot.index: 0.0})
            full = current if slot.alpha == 1.0 else acc({slot.index: 1.0})
            out.append((current - without, full - without))
        return out

    def _record_epoch(self, val_loss: float, val_acc: float) -> float:
        """Update the plateau counter, best and histories with a finished epoch; return its val gain."""
        gain = val_acc - self._val_hist[-1]
        self._plateau = self._plateau + 1 if gain < self.plateau_threshold else 0
        self._val_hist = self._val_hist[1:] + [val_acc]
        self._loss_hist = self._loss_hist[1:] + [val_loss]
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
        return ly.TrainingReport(
            epoch=self.epoch, max_epochs=self.max_epochs, train_loss=train_loss, train_accuracy=train_acc,
            val_loss=val_loss, val_accuracy=val_acc, delta_train_accuracy=train_acc - prev_train_acc,
            delta_val_accuracy=delta_val, best_val_accuracy=self._best,
            plateau_epochs=self._plateau, val_accuracy_history=tuple(self._val_hist),
            val_loss_history=tuple(self._loss_hist), host_params=self.model.host_params,
            seed_params=self.model.seed_params(), fossilized_params=self.model.fossilized_params,
            lr=lr, base_lr=self.lr, slots=tuple(slots), blueprints=self.blueprints)

    def _info(self, **extra) -> dict:
        return {"report": self.report, "action_mask": self.action_masks(), **extra}

    def _final_info(self, nonfinite: bool) -> dict:
        test = evaluate(self.model, self.test_loader, self.precision)
        test_acc = test.accuracy if math.isfinite(test.loss) else 0.0
        final = dict(test_accuracy=test_acc, test_loss=test.loss, val_accuracy=self.report.val_accuracy,
                     best_val_accuracy=self.report.best_val_accuracy, host_params=self.model.host_params,
                     seed_params=self.model.seed_params(), fossilized_params=self.model.fossilized_params,
                     total_params=self.model.total_params, flops_per_image=self.model.flops_per_image(),
                     epochs=self.epoch, nonfinite=nonfinite,
                     architecture={s.index: s.blueprint for s in self.model.slots
                                   if s.stage == ly.SeedStage.FOSSILIZED},
                     seeds={s.index: dict(blueprint=s.blueprint, stage=s.stage.name, alpha=s.alpha)
                            for s in self.model.slots if s.seed is not None},
                     history=list(self.history))
        summary = {
            "final_test_accuracy": test_acc, "final_val_accuracy": self.report.val_accuracy,
            "best_val_accuracy": self.report.best_val_accuracy,
            "seeds_germinated": self._counts["germinated"], "seeds_fossilized": self._counts["fossilized"],
            "seeds_culled": self._counts["culled"], "illegal_commands": self._counts["illegal"],
            "added_params": self.model.total_params - self.model.host_params,
            "total_params": self.model.total_params, "flops_per_image": final["flops_per_image"],
        }
        return {"final": final, "episode_summary": summary}
