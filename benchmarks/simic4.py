"""Simic v4 (issue 36): a learned Tamiyo that reads the report where it pays and keeps the plan where it does not.

    python benchmarks/simic4.py --stage train       # 3 replicates of the whole pipeline (+ each one's blind ablation)
    python benchmarks/simic4.py --stage validate    # picks on validation seeds 900-919 (validation accuracy)
    python benchmarks/simic4.py --stage evaluate    # fresh evaluation seeds (claimed), goal.md
    python benchmarks/simic4.py                     # all three; every stage resumes

The pipeline (one replicate; each replicate labels its own training seeds, :data:`REPLICATES`):

1. **Where it learns**: ``Esper-Mixed-v0`` with ``tasks="faulty-fast"`` -- Fast's task as it is (stationary) and the
   same task whose seeds fail with a hidden probability, half and half: the one hidden-event family whose headroom
   was measured (issue 35) beside its stationary twin, so one policy must learn where reading the report pays and
   where it does not.
2. **The plan it is residual to**: the Fast ceiling plan (two conv_residual seeds, at epochs 0 and 3; the best
   static plan on stationary Fast) with ADVANCE rules for seeds it does not name. A residual clone plays the plan
   unless its logits overrule it by :data:`BONUS`: untrained, it *is* the plan.
3. **Labels a report can predict**: ``esper iterate --race 4 --critic`` -- at every other epoch and every non-WAIT
   command, the candidate commands race (successive halving, :mod:`agents.simic.racing`; the own command's branch
   is the episode itself), and a critic fitted across every branched state of every seed (:mod:`agents.simic.critic`)
   labels each state with the candidate whose *predicted* advantage over the own command is above
   :data:`CRITIC_MARGIN` points: what states like this one reward on average, not one seed's noise.
4. **Clone, then improve**: round 0 clones the critic's labels of the plan's states; round 1 (DAgger) labels the
   clone's own states with branches the clone plays and clones every round's labels. Validation picks the round.
5. **The blind ablation**: the same labels, critic and clone with the observation masked to ``progress`` and
   ``budget_left``: it must fall to a plan.

Evaluation on fresh seeds (:data:`EVALUATIONS`), beside no-growth, the heuristic, the reactive heuristic, the best
static plan of each setting (picked on validation seeds among no growth, the ceiling plan and one early seed) and,
on the faulty families, the reveal oracle (privileged: lab/oracles.py); the goal checks go to ``goal.md``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from agents.simic.iterate import IterateConfig, iterate
from esper_env.fileio import atomic_path
from lab.options import parse_args

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
OUT = RESULTS / "simic4"
PLAN = RESULTS / "simic3/pi-fast/ceiling-plus.json"
"""The Fast ceiling plan with ADVANCE rules for every other seed: round 0's behaviour and rollout, every clone's
residual base."""
TRAIN = ("Esper-Mixed-v0", {"tasks": "faulty-fast"})
REPLICATES = {"a": 6000, "b": 6100, "c": 6200}
"""Each replicate's first training seed (round k labels EPISODES seeds from first + k * EPISODES)."""
ROUNDS, EPISODES = 2, 12
RACE = 4
"""Racing's first rung: the alternatives play 4 epochs, the better half 8, ... (agents/simic/racing.py; picked on the
faulty family's training seeds 1400-1405: benchmarks/results/truncation/table.md)."""
CRITIC_MARGIN = 0.25
"""Points of predicted advantage the critic's label needs over the own command."""
BONUS = 3.0
"""The plan's head start in logits."""
BLIND = ("progress", "budget_left")
"""The blind ablation's observation: the epoch and the budget only."""
VALIDATION = tuple(range(900, 920))
STATIC = {"no-growth": "no-growth", "ceiling": "ceiling=schedule:benchmarks/results/ceiling/fast/best.json",
          "one-early": "one-early=schedule:benchmarks/results/events/one-early-fast.json"}
"""The plans written in advance the best static plan is picked from (on validation seeds, per setting)."""
STATIC_SUBSET = dict(STATIC, **{"ceiling": "ceiling=schedule:benchmarks/results/ceiling/subset/best.json",
                                "one-early": "one-early=schedule:benchmarks/results/events/one-early-subset.json"})


@dataclass(frozen=True)
class Where:
    """One evaluation setting: its fresh seeds, its validation seeds, its static candidates, its extra rows."""

    setting: str
    seeds: tuple[int, ...]
    validation: tuple[int, ...]
    static: dict
    best_static: str | None = None
    """Known best static plan (picked by an earlier attempt on validation seeds); None: picked here."""
    reveal: str | None = None
    blind: bool = True
    """Play each replicate's blind ablation here."""
    headroom: bool = False
    """A family with measured headroom (issue 35): the simic − best static / − reactive / capture checks."""


EVALUATIONS = {
    "faulty": Where("faulty", tuple(range(760, 780)), VALIDATION, STATIC, "no-growth",
                    "reveal=py:lab.oracles:FaultyRevealFast", headroom=True),
    "faulty-real": Where("faulty-real", tuple(range(780, 790)), tuple(range(900, 910)), STATIC_SUBSET, "no-growth",
                         "reveal=py:lab.oracles:FaultyRevealSubset", blind=False, headroom=True),
    "fast": Where("fast", tuple(range(790, 810)), VALIDATION, STATIC, "ceiling"),
    "subset": Where("subset", tuple(range(810, 820)), tuple(range(900, 910)), STATIC_SUBSET, "ceiling", blind=False),
    "faulty-fast": Where("faulty-fast", tuple(range(820, 850)), VALIDATION, STATIC, blind=False),
}
"""Fresh seeds of Simic v4's attempt 1 (claimed in the ledger). Best static plans known from issue 35's validation
picks (faulty, faulty-real: no growth) and the static ceiling searches of issue 26 (fast, subset: their ceiling
plans); the training distribution's is picked here. The blind ablations play where the event is and on stationary
Fast (Fast's cost)."""


def config(replicate: str, blind: bool = False) -> IterateConfig:
    """One replicate's pipeline (its blind ablation: one round on the same labels, critic and clone masked)."""
    env_id, overrides = TRAIN
    return IterateConfig(env_id, dict(overrides), rounds=1 if blind else ROUNDS, episodes=EPISODES,
                         first_seed=REPLICATES[replicate], start=f"schedule:{PLAN}", rollout="policy",
                         objective="val", max_germinate=2, concurrent=True, stride=2, race=RACE, critic=True,
                         critic_margin=CRITIC_MARGIN, observe=BLIND if blind else None, residual=PLAN,
                         residual_bonus=BONUS, out=OUT / (f"{replicate}-blind" if blind else replicate), workers=2)


def train(replicates: list[str]) -> None:
    for r in replicates:
        t0 = time.perf_counter()
        iterate(config(r))
        blind = config(r, blind=True)
        src, dst = config(r).labels(0), blind.labels(0)
        if not dst.is_file():  # round 0's labels do not depend on the learner: the blind run shares them
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        iterate(blind)
        print(f"replicate {r}: {time.perf_counter() - t0:.0f} s", flush=True)


def candidates(replicate: str) -> dict[str, str]:
    """A replicate's clones, as compare rows: each round's."""
    cfg = config(replicate)
    return {f"{replicate}-round{k}": f"{replicate}-round{k}=policy:{cfg.policy(k)}" for k in range(ROUNDS)}


def validate(replicates: list[str], workers: int) -> dict:
    """Pick each replicate's round on validation seeds of the training distribution, the shipped replicate, and the
    best static plan of every setting whose best static plan is not known yet."""
    from lab.compare import CompareConfig, run_comparison
    from lab.compare.stats import pick
    from lab.evaluation import setting, training_overrides

    picks = {}
    s = setting("faulty-fast")
    rows = {name: row for r in replicates for name, row in candidates(r).items()}
    comp = run_comparison(CompareConfig(s.env_id, training_overrides("faulty-fast"), rows=tuple(rows.values()),
                                        seeds=VALIDATION, workers=workers, out=OUT / "validation/clones",
                                        command="python benchmarks/simic4.py --stage validate"))
    means = {}
    for r in replicates:
        best, m = pick(comp.rows, list(candidates(r)))
        picks[r] = best
        means.update(m)
    shipped, _ = pick(comp.rows, list(picks.values()))
    statics = {}
    for name, w in EVALUATIONS.items():
        if w.best_static is not None:
            statics[name] = w.best_static
            continue
        ws = setting(w.setting)
        c = run_comparison(CompareConfig(ws.env_id, training_overrides(w.setting), rows=tuple(w.static.values()),
                                         seeds=w.validation, workers=workers, out=OUT / f"validation/{name}-static",
                                         command="python benchmarks/simic4.py --stage validate"))
        statics[name], static_means = pick(c.rows, list(w.static))
        means.update({f"{name}:{k}": v for k, v in static_means.items()})
    out = dict(rounds=picks, shipped=shipped, best_static=statics, validation_means=means,
               validation_seeds=[VALIDATION[0], VALIDATION[-1]])
    with atomic_path(OUT / "picks.json", suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1) + "\n")
    return out


@dataclass
class Args:
    stage: tuple[str, ...] = field(default=("train", "validate"), metadata={"choices": ["train", "validate"]})
    """Which stages to run (in order)."""
    replicate: tuple[str, ...] = tuple(REPLICATES)
    """Which replicates of the whole pipeline."""
    where: tuple[str, ...] = tuple(EVALUATIONS)
    """Which evaluation settings (evaluate stage)."""
    workers: int = 2
    """Worker processes for validation and evaluation."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)
    replicates = list(args.replicate)
    if "train" in args.stage:
        train(replicates)
    if "validate" in args.stage:
        print(json.dumps(validate(replicates, args.workers), indent=1))


if __name__ == "__main__":
    main()
