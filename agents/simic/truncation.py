"""Truncated branch rollouts: does a label read ``h`` epochs after the branch point equal the full rollout's?

A branch of the improved teacher (:mod:`agents.simic.branch`) plays a candidate command and then the rollout
controller to the episode's end: most of the labelling cost. Valuing each branch by its validation accuracy
``h`` epochs after the branch point instead would cost ``h`` epochs per branch. Rollouts are deterministic, so
the truncated branch is exactly the prefix of the full one: one set of full branches, each with its validation
curve, gives the truncated label for every ``h`` at once (:meth:`Branch.truncated`), and :func:`agreement`
counts how often it equals the full label, against the branch epochs it would have cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from esper_env.leyline import ActionCodec

from .branch import state_candidates
from .rollout import Branch, best_branch, branch


@dataclass(frozen=True)
class BranchedState:
    """One state the rollout controller visited, with every candidate's full branch."""

    seed: int
    epoch: int
    """Epochs trained before the state."""
    own: int
    """The rollout controller's command there."""
    branches: tuple[Branch, ...]
    obs: tuple[float, ...] = ()
    """The observation at the state, where it was kept (``keep_obs``: a critic of the report can label it later)."""

    def label(self, objective: str = "val", horizon: int | None = None, margin: float = 0.0) -> int:
        """The improved teacher's label, from full branches or from branches cut ``horizon`` epochs on."""
        bs = list(self.branches) if horizon is None else [b.truncated(horizon) for b in self.branches]
        return best_branch(bs, self.own, objective, margin)

    def value(self, action: int, objective: str = "val") -> float:
        """What ``action``'s full branch is worth under ``objective`` (it must have been branched here)."""
        return next(b.value(objective) for b in self.branches if b.action == action)

    def epochs(self, horizon: int | None = None) -> int:
        """Branch epochs the label costs at ``horizon`` (None: full rollouts)."""
        return sum(b.epochs if horizon is None else min(horizon, b.epochs) for b in self.branches)

    def to_dict(self) -> dict:
        return dict(seed=self.seed, epoch=self.epoch, own=self.own, branches=[
            dict(action=b.action, val_curve=list(b.val_curve), return_curve=list(b.return_curve))
            for b in self.branches], **({"obs": list(self.obs)} if self.obs else {}))

    @classmethod
    def from_dict(cls, d: dict) -> BranchedState:
        bs = tuple(Branch(b["action"], b["val_curve"][-1], b["return_curve"][-1], len(b["val_curve"]),
                          tuple(b["val_curve"]), tuple(b["return_curve"])) for b in d["branches"])
        return cls(int(d["seed"]), int(d["epoch"]), int(d["own"]), bs, tuple(d.get("obs", ())))


def mean_of_draws(draws: list[BranchedState]) -> BranchedState:
    """One state's branches averaged over several draws of its data order (:func:`redraw_data_order`): each
    candidate's validation and return curves, epoch by epoch. Its label is the command best *on average* over the
    draws -- what the state warrants rather than what one data order rewarded."""
    first = draws[0]
    for d in draws[1:]:
        if (d.seed, d.epoch, d.own, [b.action for b in d.branches]) != \
                (first.seed, first.epoch, first.own, [b.action for b in first.branches]):
            raise ValueError(f"draws of different states (seed {first.seed} epoch {first.epoch} / seed {d.seed} "
                             f"epoch {d.epoch}): average the same state's draws only")
    out = []
    for i, b in enumerate(first.branches):
        val = tuple(float(np.mean([d.branches[i].val_curve[k] for d in draws])) for k in range(b.epochs))
        ret = tuple(float(np.mean([d.branches[i].return_curve[k] for d in draws])) for k in range(b.epochs))
        out.append(Branch(b.action, val[-1], ret[-1], b.epochs, val, ret))
    return BranchedState(first.seed, first.epoch, first.own, tuple(out), first.obs)


@dataclass(frozen=True)
class Agreement:
    """How often the label at ``horizon`` equals the full label, and what it costs."""

    horizon: int
    states: int
    agree: float
    """Fraction of states whose truncated label equals the full label."""
    contested: int
    """States whose full label is not the rollout's own command (where labelling changes something)."""
    agree_contested: float
    """Fraction of the contested states whose truncated label equals the full label (nan if none)."""
    cost: float
    """Branch epochs at this horizon / branch epochs of full rollouts."""


def agreement(states: list[BranchedState], horizons: tuple[int, ...], objective: str = "val",
              margin: float = 0.0) -> list[Agreement]:
    """One :class:`Agreement` per horizon over ``states``."""
    full = [s.label(objective, None, margin) for s in states]
    contested = [i for i, s in enumerate(states) if full[i] != s.own]
    total = sum(s.epochs() for s in states)
    out = []
    for h in horizons:
        cut = [s.label(objective, h, margin) for s in states]
        same = np.array([c == f for c, f in zip(cut, full)], dtype=bool)
        out.append(Agreement(h, len(states), float(same.mean()) if len(states) else float("nan"), len(contested),
                             float(same[contested].mean()) if contested else float("nan"),
                             sum(s.epochs(h) for s in states) / max(total, 1)))
    return out


def redraw_data_order(snapshot, seed: int, epoch: int, draw: int):
    """``snapshot`` with the training loader's generator (data order and augmentation from here on) drawn anew from
    (``seed``, ``epoch``, ``draw``); everything else -- weights, events, the variant's draws -- unchanged. Branches
    from it are a *retest* of the same state: what the label owes to the data order the branches happened to
    share."""
    import torch

    rng = np.random.SeedSequence([int(seed), int(epoch), int(draw)]).generate_state(1)[0]
    return replace(snapshot, loader_rng=torch.Generator().manual_seed(int(rng)).get_state())


def record_episode(env_id: str, kwargs: dict, cfg: dict, seed: int) -> tuple[list[BranchedState], dict]:
    """Play ``seed`` with the rollout controller (``cfg["rollout"]``), branching every candidate to the end at
    the states :func:`~agents.simic.branch.improve_episode` would branch (``max_germinate``, ``concurrent``,
    ``stride``); the states and the time spent (``snapshot_s``, ``restore_s``, ``play_s``, ``wall_s``,
    ``branch_epochs``). ``cfg["focus"]`` "growing": :func:`~agents.simic.branch.growing_candidates` at every state
    where a seed grows (as ``esper improve --focus growing``); ``cfg["keep_obs"]``: keep each state's observation;
    ``cfg["redraw"]`` (optional, > 0): the branches train on a data order drawn anew at each state
    (:func:`redraw_data_order`), the episode itself, and so the states, unchanged."""
    import gymnasium as gym
    import torch

    from .. import make_agent

    torch.set_num_threads(1)
    start = time.perf_counter()
    env = gym.make(env_id, **kwargs)
    codec = ActionCodec.layout()
    rollout = make_agent(cfg["rollout"])
    obs, info = env.reset(seed=seed)
    timings = dict(snapshot_s=0.0, restore_s=0.0, play_s=0.0, branch_epochs=0)
    states: list[BranchedState] = []
    done = False
    while not done:
        mask = np.asarray(info["action_mask"], dtype=bool)
        own = int(rollout.act(obs, info))
        cands, here = state_candidates(info["report"], mask, own, cfg, codec)
        epoch = info["report"].epoch
        if here:
            t0 = time.perf_counter()
            snap = env.unwrapped.snapshot()
            timings["snapshot_s"] += time.perf_counter() - t0
            origin = redraw_data_order(snap, seed, epoch, cfg["redraw"]) if cfg.get("redraw") else snap
            branches = branch(env, origin, cands, partial(make_agent, cfg["rollout"]), timings=timings)
            t0 = time.perf_counter()
            obs, info = env.unwrapped.restore(snap)
            timings["restore_s"] += time.perf_counter() - t0
            states.append(BranchedState(seed, epoch, own, tuple(branches),
                                        tuple(map(float, obs)) if cfg.get("keep_obs") else ()))
            timings["branch_epochs"] += sum(b.epochs for b in branches)
        obs, _, done, _, info = env.step(own)
    env.close()
    timings["wall_s"] = time.perf_counter() - start
    return states, timings
