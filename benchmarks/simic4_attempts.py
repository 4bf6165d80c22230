"""Simic v4's attempts as data (issue 36): where each one labels, what it learns, its own training seeds and fresh
evaluation seeds, and the confirmatory evaluations planned after it. ``benchmarks/simic4.py`` runs and reports them;
an attempt, once evaluated, stays as it ran.

    python benchmarks/simic4_attempts.py    # every attempt's training and evaluation seeds
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.simic.critic import seed_view
from agents.simic.iterate import IterateConfig
from esper_env.leyline import LAYOUT_CODEC

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
OUT = RESULTS / "simic4"
PLAN = RESULTS / "simic3/pi-fast/ceiling-plus.json"
"""The Fast ceiling plan with ADVANCE rules for every other seed: round 0's behaviour and rollout, every clone's
residual base."""
TRAIN = ("Esper-Mixed-v0", {"tasks": "faulty-fast"})
RACE = 4
"""Racing's first rung: the alternatives play 4 epochs, the better half 8, ... (agents/simic/racing.py; picked on the
faulty family's training seeds 1400-1405: benchmarks/results/truncation/table.md)."""
CRITIC_MARGIN = 0.25
"""Points of predicted advantage the critic's label needs over the own command (attempt 1)."""
CRITIC_MARGINS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Attempt 2 on: the margins cross-validation over the training seeds picks from (agents/simic/critic.py
pick_margin); none realising a gain: the critic abstains. Attempt 1's held-out deviations realised -0.48 to +0.98
points against up to +2.61 for the seed's own best branch: a fixed margin let noise through."""
BONUS = 3.0
"""The base's head start in logits (cloning)."""
LARGER_BONUS = 12.0
"""Attempt 1's validation also read each replicate's last clone played with this head start (the network must be
surer to overrule the plan: it deviates less); the pick decides."""
BLIND = ("progress", "budget_left")
"""The blind ablation's observation: the epoch and the budget only."""
VALIDATION = tuple(range(900, 920))
GOAL = OUT / "goal.md"
"""Issue 36's goal file: the index of every attempt's goal table (:func:`write_index`)."""
SHIPPED = OUT / "simic.zip"
"""The shipped learned Tamiyo: the clone validation picks among every replicate's picked round (:data:`LATEST`)."""
REACTIVE_BASE = OUT / "reactive-base.json"
"""The reactive heuristic (agents/reactive.py, default thresholds) as a residual base: data, not code."""
STATIC = {"no-growth": "no-growth", "ceiling": "ceiling=schedule:benchmarks/results/ceiling/fast/best.json",
          "one-early": "one-early=schedule:benchmarks/results/events/one-early-fast.json"}
"""The plans written in advance the best static plan is picked from (on validation seeds, per setting)."""
STATIC_CHEAP = {"ceiling": "ceiling=schedule:benchmarks/results/ceiling/mixed/per-family.json"}
"""The cheap distribution's best plan written in advance: the static ceiling search's plan per task family (issue 26),
as good as its single best plan on Simic v3's fresh seeds."""
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


def wheres(faulty: range, faulty_real: range, fast: range, subset: range, cheap: range = range(0)) -> dict[str, Where]:
    """The evaluation settings on an attempt's fresh seeds. Best static plans known from issue 35's validation picks
    (faulty, faulty-real: no growth) and the static ceiling searches of issue 26 (fast, subset, cheap: their ceiling
    plans). The blind ablations play where the event is, at Fast's cost. ``cheap``: the cheap distribution's held-out
    tasks as a third stationary check (attempt 2 on)."""
    return {
        "faulty": Where("faulty", tuple(faulty), VALIDATION, STATIC, "no-growth",
                        "reveal=py:lab.oracles:FaultyRevealFast", headroom=True),
        "faulty-real": Where("faulty-real", tuple(faulty_real), tuple(range(900, 910)), STATIC_SUBSET, "no-growth",
                             "reveal=py:lab.oracles:FaultyRevealSubset", blind=False, headroom=True),
        "fast": Where("fast", tuple(fast), VALIDATION, STATIC, "ceiling", blind=False),
        "subset": Where("subset", tuple(subset), tuple(range(900, 910)), STATIC_SUBSET, "ceiling", blind=False),
        **({"cheap": Where("mixed-heldout", tuple(cheap), VALIDATION, STATIC_CHEAP, "ceiling", blind=False)}
           if cheap else {}),
    }


@dataclass(frozen=True)
class Attempt:
    """One attempt at the pipeline: its training seeds, its learner, its own fresh evaluation seeds (ledger)."""

    name: str
    out: Path
    """Its folder: one sub-folder per replicate and base, validation/, evaluate/, picks.json, goal.md."""
    replicates: dict
    """Each replicate's first training seed (round k labels ``episodes`` seeds from first + k * episodes)."""
    rounds: int
    episodes: int
    start: str
    """Who plays round 0's episodes and branches (then each round's last clone)."""
    bases: dict
    """Residual bases by name (a file each), every one cloned from the same labels; validation picks per replicate.
    The first one's run labels; an empty name is attempt 1's layout (one base, folder = replicate)."""
    evaluations: dict
    larger_bonus: bool = False
    """Also validate each replicate's last clone at :data:`LARGER_BONUS`."""
    unpicked_on: tuple = ()
    """Settings where each replicate's clones that validation did not pick play too (rows ``<base>-<replicate>``),
    for the record: no goal check reads them."""
    critic_margins: tuple = ()
    """The critic's margin picked among these by cross-validation over the training seeds (or it abstains); ():
    :data:`CRITIC_MARGIN`."""
    max_germinate: int = 2
    """GERMINATE alternatives branched at a state (agents/simic/branch.py candidates)."""
    train: tuple = TRAIN
    """Where it labels: (env id, overrides)."""
    focus: str = "all"
    """Which states and commands are branched (agents/simic/branch.py ``focus``): "all" (every other state, every
    candidate) or "growing" (the own command against culling each GERMINATED or TRAINING seed)."""
    critic_form: str = "report"
    """The critic's form (agents/simic/critic.py): "report" (the whole observation) or "seed" (a seed's own
    report)."""
    critic_hidden: int = 64
    """Units of each of the critic's hidden layers."""
    observe: tuple[str, ...] | None = None
    """What the critic and the clone read (None: the whole observation); the blind ablation reads :data:`BLIND`."""
    summary: str = ""
    """How it differs, for goal.md."""
    goal_file: str = "goal.md"
    """Its goal table's name in its folder (attempt 1's folder is :data:`OUT`, whose goal.md is the index)."""

    def folder(self, replicate: str, base: str) -> Path:
        return self.out / (f"{replicate}-{base}" if base else replicate)

    @property
    def goal(self) -> Path:
        return self.out / self.goal_file


ATTEMPTS = {
    "1": Attempt("1", OUT, {"a": 6000, "b": 6100, "c": 6200}, rounds=2, episodes=12, start=f"schedule:{PLAN}",
                 bases={"": PLAN}, evaluations=wheres(range(760, 780), range(780, 790), range(790, 810),
                                                      range(810, 820)), larger_bonus=True, goal_file="attempt1-goal.md",
                 summary="residual to the Fast ceiling plan (+ ADVANCE rules); round 0 played by the plan, round 1 "
                         "(DAgger) by the clone"),
    "2": Attempt("2", OUT / "attempt2", {"a": 6300, "b": 6400, "c": 6500}, rounds=1, episodes=16, start="reactive",
                 bases={"plan": PLAN, "reactive": REACTIVE_BASE}, critic_margins=CRITIC_MARGINS,
                 unpicked_on=("faulty", "fast"),
                 evaluations=wheres(range(20, 40), range(40, 50), range(50, 70), range(70, 80), range(80, 100)),
                 summary="episodes and branches played by the reactive heuristic (rollouts that regrow after a cull; "
                         "attempt 1's were the plan, which never does), 16 episodes a replicate, one round; each "
                         "replicate cloned residual to the Fast plan and residual to the reactive heuristic from the "
                         "same critic labels, validation picks; the critic's margin picked by 4-fold cross-validation "
                         "over each replicate's training seeds among 0.25-4 points, or the critic abstains"),
    "3": Attempt("3", OUT / "attempt3", {"a": 6600, "b": 6700, "c": 6800}, rounds=1, episodes=24, start="reactive",
                 bases={"reactive": REACTIVE_BASE}, critic_margins=CRITIC_MARGINS, max_germinate=1,
                 unpicked_on=(),
                 evaluations=wheres(range(100, 160), range(160, 170), range(170, 190), range(190, 200),
                                    range(200, 220)),
                 summary="attempt 2's pipeline residual to the reactive heuristic only (validation picked that base "
                         "for every replicate of attempt 2), 24 episodes a replicate with one GERMINATE alternative "
                         "branched instead of two (more states where a seed trains: the headroom above the reactive "
                         "heuristic is there, benchmarks/results/reactive-headroom/), 60 fresh seeds where seeds fail "
                         "(a paired interval needs >= 42 to clear 0 at a hand rule's +0.94 with 80% power)"),
    "4": Attempt("4", OUT / "attempt4", {"a": 8000, "b": 8100, "c": 8200}, rounds=1, episodes=80,
                 start="reactive", bases={"reactive": REACTIVE_BASE}, critic_margins=CRITIC_MARGINS,
                 train=("Esper-Faulty-v0", {}), focus="growing", critic_form="seed", critic_hidden=16,
                 observe=seed_view(LAYOUT_CODEC.num_slots),
                 evaluations=wheres(range(220, 268), range(268, 278), range(278, 298), range(298, 308),
                                    range(308, 328)),
                 summary="labels where the room above the reactive heuristic is (benchmarks/results/reactive-headroom/"
                         "headroom.md): at every state of a faulty episode where a seed is GERMINATED or TRAINING, "
                         "the reactive heuristic's own command against culling that seed (one branch each, the "
                         "heuristic playing on), 80 `Esper-Faulty-v0` episodes a replicate (sound seeds among them: "
                         "where culling costs); a critic of the culled seed's own report (`potential`, own loss, "
                         "contribution, epochs in stage, stage; and the episode's progress; margin cross-validated or "
                         "abstaining) and a clone residual to the reactive heuristic that reads the same entries; 48 "
                         "fresh faulty seeds (>= 42: 80% power at a hand rule's +0.94)"),
}
"""Every attempt, each on its own fresh evaluation seeds (the ledger holds them); attempt 1 stays as it ran."""
LATEST = "4"
"""The attempt whose pick is shipped (:data:`SHIPPED`) and the scripts' default. Attempts validate on the same seeds
and setting, so the shipped clone is chosen across attempts on validation accuracy too: attempt 4's pick (b) 30.10%
on faulty-fast 900-919, attempt 2's (a) 29.33%."""
POOLED = ("faulty", "fast")
"""The settings whose evaluations, pooled, are the mixed distribution Simic v4 learned on (its two families)."""
RACING_FAMILIES = ("faulty", "stream", "shift", "faulty-heldout", "stream-heldout", "shift-heldout")
"""The truncation targets item 3 is measured on: the three the first rung was picked on, and three on fresh training
seeds (held out: added 2026-12-07; attempts 1 and 2 read the first three)."""


@dataclass(frozen=True)
class Confirmation:
    """A confirmatory evaluation: an attempt's picks, unchanged, on a larger fresh sample of one setting, its size,
    rows and analysis written down before it played (``plan``, committed first)."""

    where: Where
    plan: Path
    question: str
    """What it confirms, for confirm.md."""
    static: bool = True
    """Play the setting's best static plan beside (False where the first evaluation settled simic − best static by
    a wide margin and the plan says the compute goes to the rows the question needs)."""


CONFIRM = {"4": (
    Confirmation(Where("subset", tuple(range(480, 500)), tuple(range(900, 910)), STATIC_SUBSET, "ceiling",
                       blind=False), OUT / "attempt4" / "confirm" / "plan-subset.md",
                 "on the real subset (stationary), the lead of the first evaluation's 10 seeds: simic − reactive"),
    Confirmation(Where("faulty", tuple(range(330, 480)), VALIDATION, STATIC, "no-growth",
                       "reveal=py:lab.oracles:FaultyRevealFast", blind=False, headroom=True),
                 OUT / "attempt4" / "confirm" / "plan.md", "where seeds fail: simic − reactive, and the room above "
                 "the reactive heuristic"),
    Confirmation(Where("faulty-real", tuple(range(528, 568)), tuple(range(900, 910)), STATIC_SUBSET, "no-growth",
                       "reactive-reveal=py:lab.oracles:ReactiveReveal", blind=False, headroom=True),
                 OUT / "attempt4" / "confirm" / "plan-faulty-real.md", "where seeds fail on the real subset: "
                 "simic − reactive, and the room above the reactive heuristic (the reactive heuristic told failures)",
                 static=False),
)}
"""Confirmatory evaluations by attempt (each claimed as the same attempt, more seeds)."""


def config(replicate: str, blind: bool = False, attempt: str = LATEST, base: str | None = None) -> IterateConfig:
    """One replicate's pipeline with one residual base (default: the attempt's first, whose run labels); its blind
    ablation: one round on the same labels, residual to the plan, critic and clone masked."""
    a = ATTEMPTS[attempt]
    base = next(iter(a.bases)) if base is None else base
    env_id, overrides = a.train
    return IterateConfig(env_id, dict(overrides), rounds=1 if blind else a.rounds, episodes=a.episodes,
                         first_seed=a.replicates[replicate], start=a.start, rollout="policy",
                         objective="val", max_germinate=a.max_germinate, concurrent=True, stride=2, race=RACE,
                         focus=a.focus, critic=True, critic_form=a.critic_form, critic_hidden=a.critic_hidden,
                         critic_margin=CRITIC_MARGIN, critic_margins=a.critic_margins,
                         observe=BLIND if blind else a.observe,
                         residual=PLAN if blind else a.bases[base], residual_bonus=BONUS,
                         out=a.out / f"{replicate}-blind" if blind else a.folder(replicate, base), workers=2)


def main(argv: list[str] | None = None) -> None:
    """Print every attempt's training seeds and fresh evaluation seeds (the ledger's claims, by setting)."""
    import argparse

    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    span = lambda s: f"{s[0]}-{s[-1]}" if s else "-"  # noqa: E731
    print("| attempt | replicates' first training seeds | evaluation seeds | confirmations |\n|---|---|---|---|")
    for name, a in ATTEMPTS.items():
        evals = ", ".join(f"{k} {span(w.seeds)}" for k, w in a.evaluations.items())
        conf = ", ".join(f"{c.where.setting} {span(c.where.seeds)}" for c in CONFIRM.get(name, ()))
        print(f"| {name} | {', '.join(f'{r} {s}' for r, s in a.replicates.items())} | {evals} | {conf or '-'} |")


if __name__ == "__main__":
    main()
