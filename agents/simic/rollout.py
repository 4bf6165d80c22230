"""Branches from a snapshot: candidate commands played from the *same* state with the *same* data order.

An Esper episode can be snapshotted between two steps and restored bit for bit, data order included. So two
commands can be compared from the same state (common random numbers): restore, give the command, play the rest of
the episode with a rollout controller, read the outcome; restore, give the other command, and so on. The
difference between two branches is then the effect of the command alone, free of the seed-to-seed noise that
drowns a one-point effect in separate episodes. :func:`branch` plays every candidate to the end (or a horizon);
:func:`race` plays them by successive halving (:func:`halving`), only the survivors to the end;
:func:`best_branch` reads a label off the branches. ``agents/simic/branch.py`` labels episodes with them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Branch:
    """One branch's result: what it is worth under each objective, and the epochs it trained."""

    action: int
    val_accuracy: float
    """Validation accuracy where the branch stopped (the episode's end, or ``horizon`` epochs on)."""
    episode_return: float
    """Return from the branch point to where it stopped."""
    epochs: int
    val_curve: tuple[float, ...] = ()
    """Validation accuracy after each of the branch's epochs (its last entry is ``val_accuracy``)."""
    return_curve: tuple[float, ...] = ()
    """Return from the branch point after each of its epochs."""

    def value(self, objective: str) -> float:
        return self.val_accuracy if objective == "val" else self.episode_return

    def truncated(self, horizon: int) -> Branch:
        """This branch as if it had stopped ``horizon`` epochs after the branch point (the rollout is
        deterministic, so a shorter branch is exactly this one's prefix)."""
        k = min(horizon, self.epochs)
        return Branch(self.action, self.val_curve[k - 1], self.return_curve[k - 1], k, self.val_curve[:k],
                      self.return_curve[:k])


def branch(env, snapshot, actions: list[int], make_rollout: Callable[[], object], horizon: int | None = None,
           timings: dict[str, float] | None = None) -> list[Branch]:
    """Each of ``actions`` from ``snapshot``, played by a fresh rollout controller to the end (or for ``horizon``
    epochs, then valued where it stopped); the same data order for every branch: the snapshot holds the
    loader's generator. The env is left where the last branch stopped. ``timings`` (if given) accumulates the
    seconds spent restoring (``restore_s``) and playing (``play_s``)."""
    out = []
    u = env.unwrapped
    for a in actions:
        t0 = time.perf_counter()
        obs, info = u.restore(snapshot)
        t1 = time.perf_counter()
        start = u.epoch
        obs, ret, done, _, info = u.step(int(a))
        vals, rets = [info["report"].val_accuracy], [ret]
        agent = make_rollout()
        while not done and (horizon is None or len(vals) < horizon):
            obs, r, done, _, info = u.step(int(agent.act(obs, info)))
            ret += r
            vals.append(info["report"].val_accuracy)
            rets.append(ret)
        val = info["final"].val_accuracy if done else vals[-1]
        vals[-1] = val
        out.append(Branch(int(a), float(val), float(ret), u.epoch - start, tuple(map(float, vals)),
                          tuple(map(float, rets))))
        if timings is not None:
            timings["restore_s"] = timings.get("restore_s", 0.0) + t1 - t0
            timings["play_s"] = timings.get("play_s", 0.0) + time.perf_counter() - t1
    return out


def halving(actions: list[int], value_at: Callable[[int, int], float], rung: int,
            horizon: int, gap: float | None = None) -> tuple[list[int], dict[int, int]]:
    """Successive halving over ``actions``: all play ``rung`` epochs, the better half (ties: smaller index) plays
    twice as long, ... until one is left or the next rung reaches ``horizon`` (the epochs left to the episode).
    ``gap``: drop, at each rung, only the actions more than ``gap`` behind the leader (the rest play on, however
    many) instead of the worse half. ``value_at(a, k)``: the branch's value after ``k`` epochs. Returns the
    survivors (to be played to the end) and the epochs each dropped action played."""
    alive, played, k = sorted(actions), {}, rung
    while len(alive) > 1 and k < horizon:
        values = {a: value_at(a, k) for a in alive}
        ranked = sorted(alive, key=lambda a: (-values[a], a))
        keep = math.ceil(len(alive) / 2) if gap is None else sum(values[a] >= values[ranked[0]] - gap for a in ranked)
        for a in ranked[keep:]:
            played[a] = k
        alive, k = sorted(ranked[:keep]), 2 * k
    return alive, played


def race(env, snapshot, actions: list[int], make_rollout: Callable[[], object], rung: int, objective: str,
         keep: int | None = None, timings: dict[str, float] | None = None, gap: float | None = None
         ) -> tuple[list[Branch], dict[int, float], int]:
    """Race ``actions`` from ``snapshot`` for real: each plays ``rung`` epochs (a fresh rollout controller after the
    command), successive halving drops the worse half (or, with ``gap``, those more than ``gap`` behind the
    leader: :func:`halving`), and the survivors play on from their own snapshots to the end; ``keep`` (the
    rollout's own command, when it is not free) does not race and is played in full. Returns the survivors' full
    :class:`Branch` es, each dropped action's value where it was dropped, and the branch epochs spent. The same
    data order for every branch (the snapshot holds the loader's generator)."""
    u = env.unwrapped
    state: dict[int, dict] = {}

    def play(a: int, k: int | None) -> None:
        """Play branch ``a`` until ``k`` epochs after the branch point (None: to the end)."""
        t0 = time.perf_counter()
        s = state.get(a)
        if s is None:
            u.restore(snapshot)
            start = u.epoch
            obs, ret, done, _, info = u.step(int(a))
            s = state[a] = dict(start=start, vals=[info["report"].val_accuracy], rets=[ret], done=done, info=info,
                                obs=obs, snap=None)
        elif not s["done"]:
            obs, info = u.restore(s["snap"])
            s["obs"], s["info"] = obs, info
        agent = make_rollout()
        while not s["done"] and (k is None or len(s["vals"]) < k):
            obs, r, done, _, info = u.step(int(agent.act(s["obs"], s["info"])))
            s["rets"].append(s["rets"][-1] + r)
            s["vals"].append(info["report"].val_accuracy)
            s.update(obs=obs, info=info, done=done)
        if s["done"]:
            s["vals"][-1] = s["info"]["final"].val_accuracy
        else:
            s["snap"] = u.snapshot()
        if timings is not None:
            timings["play_s"] = timings.get("play_s", 0.0) + time.perf_counter() - t0

    def value_at(a: int, k: int) -> float:
        play(a, k)
        s = state[a]
        return (s["vals"] if objective == "val" else s["rets"])[min(k, len(s["vals"])) - 1]

    horizon = u.restore(snapshot)[1]["report"].budget_left
    survivors, played = halving([a for a in actions if a != keep], value_at, rung, horizon, gap)
    if keep is not None and keep in actions:
        survivors = sorted({*survivors, keep})
    for a in survivors:
        play(a, None)
    full = [Branch(a, float(state[a]["vals"][-1]), float(state[a]["rets"][-1]), len(state[a]["vals"]),
                   tuple(map(float, state[a]["vals"])), tuple(map(float, state[a]["rets"]))) for a in survivors]
    dropped = {a: float(value_at(a, k)) for a, k in played.items()}
    epochs = sum(len(s["vals"]) for s in state.values())
    return full, dropped, epochs


def best_branch(branches: list[Branch], rollout_action: int, objective: str, margin: float) -> int:
    """The label: the rollout's own command unless another branch is worth more than it by more than
    ``margin`` (then the best one; ties broken towards the smaller action index, WAIT first)."""
    by_action = {b.action: b.value(objective) for b in branches}
    best = max(sorted(by_action), key=lambda a: by_action[a])
    own = by_action.get(rollout_action)
    if own is not None and by_action[best] - own <= margin:
        return rollout_action
    return best
