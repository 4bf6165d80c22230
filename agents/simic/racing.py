"""Racing: cheaper branch labels by successive halving across the candidate commands at a branched state.

Full branching (:func:`agents.simic.branch.branch`) plays every candidate to the episode's end. A label needs only
the *winner* to be played in full: every alternative plays ``rung`` epochs, the worse half (by the objective's
value at that point) is dropped, the survivors play twice as long, and so on until one is left; it plays to the end
and is compared with the rollout's own command. The own command costs nothing when the episode itself is played by
the rollout controller (its branch *is* the rest of the episode: the env is deterministic and the controllers that
roll out are stateless), so only the alternatives race.

A branch is exactly the prefix of its full rollout (deterministic rollouts), so :func:`race_label` reads a racing
label and its cost off full branches (:class:`~agents.simic.truncation.BranchedState`) and :func:`agreement_table`
measures how often it equals the full label; :func:`race` plays the race for real, resuming a surviving branch from
its own snapshot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .branch import Branch, best_branch
from .truncation import BranchedState


def halving(actions: list[int], value_at: Callable[[int, int], float], rung: int,
            horizon: int) -> tuple[list[int], dict[int, int]]:
    """Successive halving over ``actions``: all play ``rung`` epochs, the better half (ties: smaller index) plays
    twice as long, ... until one is left or the next rung reaches ``horizon`` (the epochs left to the episode).
    ``value_at(a, k)``: the branch's value after ``k`` epochs. Returns the survivors (to be played to the end) and
    the epochs each dropped action played."""
    alive, played, k = sorted(actions), {}, rung
    while len(alive) > 1 and k < horizon:
        values = {a: value_at(a, k) for a in alive}
        ranked = sorted(alive, key=lambda a: (-values[a], a))
        keep = math.ceil(len(alive) / 2)
        for a in ranked[keep:]:
            played[a] = k
        alive, k = sorted(ranked[:keep]), 2 * k
    return alive, played


def _curve(b: Branch, objective: str) -> tuple[float, ...]:
    return b.val_curve if objective == "val" else b.return_curve


def race_label(state: BranchedState, rung: int, objective: str = "val", margin: float = 0.0,
               own_free: bool = True) -> tuple[int, int]:
    """(label, branch epochs) of racing at ``state``, read off its full branches: the alternatives to the rollout's
    own command race (:func:`halving`), the survivors are compared with the own command's full branch."""
    by_action = {b.action: b for b in state.branches}
    own = by_action[state.own]
    others = [a for a in by_action if a != state.own]
    survivors, played = halving(others, lambda a, k: _curve(by_action[a], objective)[k - 1], rung, own.epochs)
    cost = sum(played.values()) + sum(by_action[a].epochs for a in survivors) + (0 if own_free else own.epochs)
    return best_branch([own, *(by_action[a] for a in survivors)], state.own, objective, margin), cost


@dataclass(frozen=True)
class RaceAgreement:
    """How often racing's label equals the full label, and what it costs."""

    rung: int
    states: int
    agree: float
    contested: int
    agree_contested: float
    cost: float
    """Branch epochs of racing / branch epochs of full rollouts (every candidate, the own command included)."""


def agreement_table(states: list[BranchedState], rungs: tuple[int, ...], objective: str = "val",
                    margin: float = 0.0) -> list[RaceAgreement]:
    """One :class:`RaceAgreement` per rung over ``states``."""
    full = [s.label(objective, None, margin) for s in states]
    contested = [i for i, s in enumerate(states) if full[i] != s.own]
    total = max(sum(s.epochs() for s in states), 1)
    out = []
    for rung in rungs:
        raced = [race_label(s, rung, objective, margin) for s in states]
        same = [r[0] == f for r, f in zip(raced, full)]
        out.append(RaceAgreement(rung, len(states), sum(same) / max(len(states), 1), len(contested),
                                 sum(same[i] for i in contested) / len(contested) if contested else float("nan"),
                                 sum(r[1] for r in raced) / total))
    return out


def race(env, snapshot, actions: list[int], make_rollout: Callable[[], object], rung: int, objective: str,
         keep: int | None = None, timings: dict[str, float] | None = None
         ) -> tuple[list[Branch], dict[int, float], int]:
    """Race ``actions`` from ``snapshot`` for real: each plays ``rung`` epochs (a fresh rollout controller after the
    command), successive halving drops the worse half, and the survivors play on from their own snapshots to the
    end; ``keep`` (the rollout's own command, when it is not free) does not race and is played in full. Returns the
    survivors' full :class:`Branch` es, each dropped action's value where it was dropped, and the branch epochs
    spent. The same data order for every branch (the snapshot holds the loader's generator)."""
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
    survivors, played = halving([a for a in actions if a != keep], value_at, rung, horizon)
    if keep is not None and keep in actions:
        survivors = sorted({*survivors, keep})
    for a in survivors:
        play(a, None)
    full = [Branch(a, float(state[a]["vals"][-1]), float(state[a]["rets"][-1]), len(state[a]["vals"]),
                   tuple(map(float, state[a]["vals"])), tuple(map(float, state[a]["rets"]))) for a in survivors]
    dropped = {a: float(value_at(a, k)) for a, k in played.items()}
    epochs = sum(len(s["vals"]) for s in state.values())
    return full, dropped, epochs
