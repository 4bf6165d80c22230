"""Racing: cheaper branch labels by successive halving across the candidate commands at a branched state.

Full branching (:func:`agents.simic.branch.branch`) plays every candidate to the episode's end. A label needs only
the *winner* to be played in full: every alternative plays ``rung`` epochs, the worse half (by the objective's
value at that point) is dropped, the survivors play twice as long, and so on until one is left; it plays to the end
and is compared with the rollout's own command. Or, by the leader's *gap*: at each rung only the alternatives
more than ``gap`` behind the leading one are dropped, the rest play on (a near tie is not decided by one noisy
epoch; a clearly beaten branch stops early). The own command costs nothing when the episode itself is played by
the rollout controller (its branch *is* the rest of the episode: the env is deterministic and the controllers that
roll out are stateless), so only the alternatives race.

A branch is exactly the prefix of its full rollout (deterministic rollouts), so :func:`race_label` reads a racing
label and its cost off full branches (:class:`~agents.simic.truncation.BranchedState`) and :func:`agreement_table`
measures how often it equals the full label; :func:`~agents.simic.branch.race` plays the race for real (``esper
improve --race``), resuming a surviving branch from its own snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rollout import Branch, best_branch, halving
from .truncation import BranchedState


def _curve(b: Branch, objective: str) -> tuple[float, ...]:
    return b.val_curve if objective == "val" else b.return_curve


def ranked_value(curve, k: int, window: int = 1) -> float:
    """What a race ranks a branch by after ``k`` of its epochs: the mean of its last ``window`` values up to
    ``k`` (1: the value after epoch ``k``; 2 averages out one epoch's noise at no extra cost)."""
    k = min(k, len(curve))
    lo = max(0, k - window)
    return float(sum(curve[lo:k]) / (k - lo))


def race_label(state: BranchedState, rung: int, objective: str = "val", margin: float = 0.0,
               own_free: bool = True, window: int = 1, gap: float | None = None) -> tuple[int, int]:
    """(label, branch epochs) of racing at ``state``, read off its full branches: the alternatives to the rollout's
    own command race (:func:`halving`, ranked by :func:`ranked_value`; ``gap``: by the leader's gap), the survivors
    are compared with the own command's full branch."""
    by_action = {b.action: b for b in state.branches}
    own = by_action[state.own]
    others = [a for a in by_action if a != state.own]
    survivors, played = halving(others, lambda a, k: ranked_value(_curve(by_action[a], objective), k, window), rung,
                                own.epochs, gap)
    cost = sum(played.values()) + sum(by_action[a].epochs for a in survivors) + (0 if own_free else own.epochs)
    return best_branch([own, *(by_action[a] for a in survivors)], state.own, objective, margin), cost


@dataclass(frozen=True)
class RaceAgreement:
    """How often racing's label equals the full label, and what it costs."""

    rung: int
    window: int
    """Epochs a race ranks by (:func:`ranked_value`)."""
    gap: float | None
    """The leader's gap a branch is dropped beyond (None: the worse half is)."""
    states: int
    agree: float
    contested: int
    agree_contested: float
    cost: float
    """Branch epochs of racing / branch epochs of full rollouts (every candidate, the own command included)."""
    lost: float
    """Mean over the states of the full label's value minus the raced label's (the objective's units, from the full
    branches): what the disagreements cost."""


def agreement_table(states: list[BranchedState], rungs: tuple[int, ...], objective: str = "val",
                    margin: float = 0.0, window: int = 1, gap: float | None = None) -> list[RaceAgreement]:
    """One :class:`RaceAgreement` per rung over ``states``."""
    full = [s.label(objective, None, margin) for s in states]
    contested = [i for i, s in enumerate(states) if full[i] != s.own]
    total = max(sum(s.epochs() for s in states), 1)
    out = []
    for rung in rungs:
        raced = [race_label(s, rung, objective, margin, window=window, gap=gap) for s in states]
        same = [r[0] == f for r, f in zip(raced, full)]
        out.append(RaceAgreement(rung, window, gap, len(states), sum(same) / max(len(states), 1), len(contested),
                                 sum(same[i] for i in contested) / len(contested) if contested else float("nan"),
                                 sum(r[1] for r in raced) / total,
                                 sum(s.value(f, objective) - s.value(r[0], objective)
                                     for s, r, f in zip(states, raced, full))
                                 / max(len(states), 1)))
    return out


@dataclass(frozen=True)
class Retest:
    """Labels of the same states read on one data order and valued on another (:func:`retest`), state by state."""

    full: tuple[int, ...]
    """The full label on the first data order."""
    again: tuple[int, ...]
    """The full label on the second."""
    raced: tuple[int, ...]
    """Racing's label on the first."""
    contested: int
    """States whose full label on the first data order is not the rollout's own command."""
    full_value: tuple[float, ...]
    """Per state: the second order's value of the first order's full label minus the second's own command's."""
    raced_value: tuple[float, ...]
    """The same for racing's label."""
    best_value: tuple[float, ...]
    """The same for the second order's own best branch (in sample there: a bound, not a label)."""

    @property
    def states(self) -> int:
        return len(self.full)

    @property
    def full_repeats(self) -> float:
        """Share of states whose full label on the second data order equals the first's: the full label's own
        reproducibility, the ceiling of any cheaper label's agreement with it."""
        return sum(f == g for f, g in zip(self.full, self.again)) / max(self.states, 1)


def retest(first: list[BranchedState], second: list[BranchedState], rung: int, gap: float | None,
           objective: str = "val") -> Retest:
    """Compare labels read on ``first`` with the branches of ``second``: the same states (seed, epoch, own command,
    candidates) branched on another data order (:func:`~agents.simic.truncation.redraw_data_order`). Refuses
    states that do not match."""
    pairs = list(zip(first, second, strict=True))
    for a, b in pairs:
        if (a.seed, a.epoch, a.own, sorted(x.action for x in a.branches)) != \
                (b.seed, b.epoch, b.own, sorted(x.action for x in b.branches)):
            raise ValueError(f"retest states differ at seed {a.seed} epoch {a.epoch} / seed {b.seed} epoch {b.epoch}: "
                             "branch the same targets' seeds with the same labelling settings")
    full = tuple(a.label(objective) for a, _ in pairs)
    again = tuple(b.label(objective) for _, b in pairs)
    raced = tuple(race_label(a, rung, objective, gap=gap)[0] for a, _ in pairs)

    def on_second(labels):
        return tuple(b.value(x, objective) - b.value(b.own, objective) for x, (_, b) in zip(labels, pairs))

    return Retest(full, again, raced, sum(f != a.own for f, (a, _) in zip(full, pairs)), on_second(full),
                  on_second(raced), on_second(again))
