"""Headroom: how much a controller that reads the task (or the run) could gain over the best single plan.

Given a table of scores — each candidate plan (a schedule) played on each training seed — three numbers say how
much room state-dependent control has before anyone trains a learner:

* the **single best static**: the candidate with the best mean over every seed (one plan for all);
* the **per-family static oracle**: each task family's own best candidate (a task schedule) — the most a
  controller that reads only the task description can gain; ``oracle − single`` is the *value of knowing the
  task*. Both picks are *cross-fitted*: chosen on one half of the seeds, scored on the other (and the other way
  round), so the difference is not inflated by picking on the seeds it is measured on;
* the **per-seed best**: the best candidate on each seed, picked on that seed — an in-sample upper bound on what
  reading the run itself (a seed that fails to learn, an early plateau) could add among these plans.

:func:`headroom` computes them from any such table; ``benchmarks/headroom.py`` builds the table by playing the
candidates on training seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .compare.stats import mean_ci

Scores = Mapping[str, Mapping[int, float]]
"""candidate -> seed -> score (points; every candidate on the same seeds)."""


@dataclass(frozen=True)
class Headroom:
    """What :func:`headroom` found (scores in the table's units; intervals paired over seeds, 95%)."""

    single: str
    """The best candidate for every seed (picked on all seeds: the plan one would ship)."""
    oracle: dict[str, str]
    """Each family's best candidate (picked on all of its seeds)."""
    single_mean: float
    """Cross-fitted mean of the single best (picked on the other fold)."""
    oracle_mean: float
    """Cross-fitted mean of the per-family oracle."""
    value_of_task: tuple[float, float, float]
    """oracle − single, cross-fitted: (mean, low, high)."""
    per_seed_best: tuple[float, float, float]
    """Per-seed best − single best, in sample (an upper bound): (mean, low, high)."""
    seeds: int
    families: dict[str, int]
    """Seeds per family."""


def _check(scores: Scores) -> list[int]:
    if not scores:
        raise ValueError("no candidates to measure headroom with")
    seeds = sorted(next(iter(scores.values())))
    for name, by_seed in scores.items():
        if sorted(by_seed) != seeds:
            raise ValueError(f"candidate {name!r} was played on seeds {sorted(by_seed)}, the others on {seeds}: "
                             "play every candidate on the same seeds")
    if len(seeds) < 4:
        raise ValueError(f"{len(seeds)} seeds: cross-fitting needs at least 4")
    return seeds


def best(scores: Scores, seeds) -> str:
    """The candidate with the best mean over ``seeds`` (ties: the first listed)."""
    names = list(scores)
    return max(names, key=lambda n: (float(np.mean([scores[n][s] for s in seeds])), -names.index(n)))


def headroom(scores: Scores, family_of: Callable[[int], str]) -> Headroom:
    """The headroom in ``scores`` (see the module docstring); ``family_of(seed)`` names a seed's task family."""
    seeds = _check(scores)
    fam = {s: family_of(s) for s in seeds}
    families = sorted(set(fam.values()))
    # two folds, alternating within each family so both folds see every family
    fold = {}
    for f in families:
        for i, s in enumerate(x for x in seeds if fam[x] == f):
            fold[s] = i % 2
    single_x, oracle_x = {}, {}
    for k in (0, 1):
        pick_on = [s for s in seeds if fold[s] != k]
        one = best(scores, pick_on)
        own = {f: best(scores, [s for s in pick_on if fam[s] == f] or pick_on) for f in families}
        for s in (x for x in seeds if fold[x] == k):
            single_x[s], oracle_x[s] = scores[one][s], scores[own[fam[s]]][s]
    diffs = [oracle_x[s] - single_x[s] for s in seeds]
    single = best(scores, seeds)
    spread = [max(scores[n][s] for n in scores) - scores[single][s] for s in seeds]
    return Headroom(single=single, oracle={f: best(scores, [s for s in seeds if fam[s] == f]) for f in families},
                    single_mean=float(np.mean(list(single_x.values()))),
                    oracle_mean=float(np.mean(list(oracle_x.values()))), value_of_task=mean_ci(diffs),
                    per_seed_best=mean_ci(spread), seeds=len(seeds),
                    families={f: sum(1 for s in seeds if fam[s] == f) for f in families})


@dataclass(frozen=True)
class RevealHeadroom:
    """Headroom for a report-reader on a family with a hidden event (issue 35), in the table's units."""

    static: str
    """The best static plan on every seed (the plan one would ship)."""
    static_mean: float
    """(i) the best single static plan, cross-fitted (picked on the other fold)."""
    reveal_mean: float
    """(iii) the reveal oracle: the best of the plans that act on the event once it shows, cross-fitted."""
    clairvoyant_mean: float
    """(iv) per seed, the best of every static and reveal plan (in sample: an upper bound)."""
    gain: tuple[float, float, float]
    """(iii) - (i), paired over seeds: (mean, low, high) of the 95% interval."""
    seeds: int


def cross_fitted(scores: Scores, seeds: list[int]) -> dict[int, float]:
    """Per seed, the score of the candidate picked on the other fold (seeds alternate between two folds)."""
    fold = {s: i % 2 for i, s in enumerate(seeds)}
    out = {}
    for k in (0, 1):
        pick = best(scores, [s for s in seeds if fold[s] != k])
        out.update({s: scores[pick][s] for s in seeds if fold[s] == k})
    return out


def reveal_headroom(static: Scores, reveal: Scores) -> RevealHeadroom:
    """(i), (iii), (iv) and (iii) - (i) from the scores of the static candidates and of the reveal oracle's
    candidate plans (each may include static plans: the oracle may choose not to react), on the same seeds."""
    seeds = _check({**static, **reveal})
    one, react = cross_fitted(static, seeds), cross_fitted(reveal, seeds)
    every = {**static, **reveal}
    return RevealHeadroom(static=best(static, seeds), static_mean=float(np.mean(list(one.values()))),
                          reveal_mean=float(np.mean(list(react.values()))),
                          clairvoyant_mean=float(np.mean([max(every[n][s] for n in every) for s in seeds])),
                          gain=mean_ci([react[s] - one[s] for s in seeds]), seeds=len(seeds))



def _growing(report, born: dict[int, int], u) -> list[tuple[object, dict]]:
    """Each seed in GERMINATED or TRAINING whose germination epoch is known, with what the report shows of it (stage,
    ``potential``, ``isolated_loss`` over the host's training loss) and whether it failed (read from the env's
    variant ``u``: the measurement's privilege, never a controller's)."""
    from esper_env.leyline import SeedStage

    return [(s, dict(epoch=report.epoch, stage=s.stage.name, potential=s.potential,
                     ratio=s.isolated_loss / max(report.train_loss, 1e-6),
                     failed=bool(u.variant.failed(u.config.slots.index(s.index), born[s.index]))))
            for s in report.slots if s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING) and s.index in born]


def seed_reports(seed: int, env_id: str = "Esper-Faulty-v0", **overrides) -> list[dict]:
    """Play the reactive heuristic on ``seed`` and return, for every report of a GERMINATED or TRAINING seed, what
    the report shows and whether the seed failed (:func:`_growing`), and whether the heuristic's own-loss rule flags
    it. ``overrides``: env settings (tests play a small env)."""
    import gymnasium as gym
    import torch

    from agents.base import run_episode
    from agents.reactive import ReactiveTamiyo
    from esper_env.leyline import LAYOUT_CODEC, Op

    torch.set_num_threads(1)
    env = gym.make(env_id, **overrides)
    agent = ReactiveTamiyo()
    record = run_episode(env, agent, seed=seed)
    born, out = {}, []
    for step in record.steps:
        command = LAYOUT_CODEC.decode(step.action)
        if command.op == Op.GERMINATE:
            born[command.slot] = step.epoch
        out += [dict(seed=seed, **shown, flagged=shown["ratio"] > agent.config.diverged)
                for _, shown in _growing(step.report, born, env.unwrapped)]
    return out


def cull_branches(seed: int, env_id: str = "Esper-Faulty-v0", **overrides) -> list[dict]:
    """Play the reactive heuristic on ``seed``; at every report of a GERMINATED or TRAINING seed where the heuristic
    does not cull it, play CULL of that seed instead (the heuristic rolling out, as ``esper improve`` branches) and
    return what one such branch label says: the final validation accuracy of the CULL branch minus the episode's
    own (the heuristic is stateless and the env deterministic, so the episode *is* the own command's branch), beside
    what the report showed and whether the seed failed (:func:`_growing`)."""
    import gymnasium as gym
    import torch

    from agents.reactive import ReactiveTamiyo
    from agents.simic.rollout import branch
    from esper_env.leyline import LAYOUT_CODEC, Command, Op

    torch.set_num_threads(1)
    env = gym.make(env_id, **overrides)
    u = env.unwrapped
    agent = ReactiveTamiyo()
    obs, info = env.reset(seed=seed)
    born, pending, done = {}, [], False
    while not done:
        report = info["report"]
        action = int(agent.act(obs, info))
        own = LAYOUT_CODEC.decode(action)
        live = [(s, shown) for s, shown in _growing(report, born, u) if not (own.op == Op.CULL and own.slot == s.index)]
        if live:
            snap = u.snapshot()
            for s, shown in live:
                (b,) = branch(env, snap, [LAYOUT_CODEC.encode(Command.cull(s.index))], ReactiveTamiyo)
                pending.append(dict(seed=seed, **shown, cull=b.val_accuracy))
            obs, info = u.restore(snap)
        if own.op == Op.GERMINATE:
            born[own.slot] = report.epoch
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    final = info["final"].val_accuracy
    return [dict(r, advantage=r.pop("cull") - final) for r in pending]
