"""The static ceiling: the best plan a search can find, per env, and how controllers stand against it.

    python benchmarks/ceiling.py                          # Esper-Fast-v0, every stage; resumable (episodes cached)
    python benchmarks/ceiling.py --target subset mixed    # the real subset, then the task distribution
    python benchmarks/ceiling.py --target fast --only evaluate

Targets write to ``benchmarks/results/ceiling/<target>/``; each has stages, run in order:

``fast`` (Esper-Fast-v0) and ``subset`` (the real CIFAR-10 subset: small host, 20 epochs):

1. ``plans``: the heuristic and the shipped learned Tamiyo (Simic v2, attempt 3) on *training* seeds; each one's
   most common plan written as a schedule, its static twin (``twin-heuristic.json``, ``twin-simic.json``).
2. ``tune``: three independent ``esper tune`` runs (sampler seeds 0, 1, 2) on training seeds, up to three seeds per
   schedule in any slot rank, each starting from the known plans (enqueued first).
3. ``validate``: each run's best and the known plans on validation seeds (900-999); the one with the best mean
   final *validation* accuracy is ``best.json`` (the test split is never read to pick).
4. ``evaluate``: on fresh evaluation seeds (claimed in the ledger): no-growth, heuristic, the old tuned schedule,
   the new best static plan, the learned Tamiyo, the twins of the heuristic and of the learned Tamiyo, and the
   bare host and a wider host at the best static plan's FLOPs.

``mixed`` (Esper-Mixed-v0, the ``cheap`` distribution): ``tune`` three runs per task family (on training seeds of
that family) and three for the whole distribution; ``validate`` picks each family's best and the best for all on
validation seeds (``per-family.json``: a task schedule that plays each family's own; ``best-all.json``); ``evaluate``
on fresh seeds of the held-out part: "each family's own tuned schedule" beside "one tuned schedule for all" (their
difference is the value of knowing the task), with no-growth, heuristic, the old tuned schedules and the learned
Tamiyo and its static twin (one modal plan per family).

``stages.json`` records each stage's wall time, episodes and picks.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

from agents.schedule import Schedule, TaskSchedule, distinct_files, family_cases
from lab.compare import CompareConfig, run_comparison
from lab.compare.stats import fmt_ci, paired, pick, test_points
from lab.evaluation import Evaluation, setting, training_overrides
from lab.options import parse_args
from lab.stages import run_stages
from lab.tune import TuneConfig, tune
from lab.twin import modal_plan, twin_schedule

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
TUNED = RESULTS / "tuned/fast/best.json"
"""The old tuned schedule (one search of 60 trials on Esper-Fast-v0, max two seeds)."""
TUNED_MIXED = RESULTS / "tuned/mixed/best.json"
"""The old schedule tuned on the cheap task distribution (30 trials)."""
FAST_CEILING = RESULTS / "ceiling/fast/best.json"
"""Esper-Fast-v0's static ceiling (this script's ``fast`` target): a known plan for the other targets."""
LEARNED = RESULTS / "simic2/attempt3/simic-val.zip"
"""The shipped learned Tamiyo (``simic`` in every table)."""
EVERY_LEARNED = {"v1-bc": "simic/bc.zip", "v1-ppo": "simic/ppo/final.zip", "v1-ppo2": "simic/ppo2/final.zip",
                 **{f"v2a{a}-{o}": f"simic2/attempt{a}/simic-{o}.zip" for a in (1, 2, 3) for o in ("val", "return")
                    if (a, o) != (3, "val")}}
"""Every other committed learned policy (Simic v1's clone and PPO runs, each Simic v2 attempt's two picks): on
Esper-Fast-v0 and the real subset each is a row beside its static twin."""
SAMPLER_SEEDS = (0, 1, 2)
"""Independent searches per target (or per family)."""


@dataclass(frozen=True)
class Target:
    """One env's ceiling: where it runs, its budgets and its seeds."""

    name: str
    """Folder under benchmarks/results/ceiling/."""
    where: str
    """The evaluation setting (lab.evaluation.SETTINGS); training stages play it without its held-out split."""
    tune: TuneConfig
    """One search (its seeds, trials, max seeds); run once per sampler seed."""
    plan_seeds: tuple[int, ...] = ()
    """Training seeds the controllers' plans are read on (never evaluation or validation seeds)."""
    validation_seeds: tuple[int, ...] = tuple(range(900, 920))
    eval_seeds: tuple[int, ...] = tuple(range(600, 620))
    """Fresh evaluation seeds: no earlier attempt was evaluated on them in this env (results/ledger.json)."""
    known: tuple[tuple[str, Path], ...] = ()
    """Plans (name, file) every search starts from (enqueued first) and validation compares, besides the twins."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (``--allow-dirty``)."""

    @property
    def out(self) -> Path:
        return RESULTS / "ceiling" / self.name

    @property
    def env(self) -> str:
        return setting(self.where).env_id

    @property
    def overrides(self) -> dict:
        """The setting's fields for training-seed stages (plans, tune, validate): its training split."""
        return training_overrides(self.where)


TASKS = training_overrides("mixed-heldout")
TARGETS = {t.name: t for t in (
    Target("fast", "fast",
           # each search: 40 trials x 5 training seeds = 200 episodes (the enqueued plans among the 40)
           TuneConfig("Esper-Fast-v0", trials=40, seeds=tuple(range(1000, 1005)), max_seeds=3, workers=2),
           plan_seeds=tuple(range(1000, 1020)), known=(("tuned", TUNED),)),
    Target("subset", "subset",
           # ~25 s an episode: each search 10 trials x 2 training seeds (what fits in a session, stated)
           TuneConfig("Esper-CIFAR10-v0", setting("subset").overrides, trials=10, seeds=(1000, 1001), max_seeds=3,
                      workers=2),
           plan_seeds=tuple(range(1000, 1006)), validation_seeds=tuple(range(900, 904)),
           eval_seeds=tuple(range(600, 610)), known=(("tuned", TUNED), ("fast-ceiling", FAST_CEILING))),
    Target("mixed", "mixed-heldout",
           # per family: 12 trials x 4 training seeds of the family; for all: 12 trials x 8 training seeds
           TuneConfig("Esper-Mixed-v0", dict(TASKS), trials=12, seeds=tuple(range(1000, 1008)), max_seeds=3,
                      workers=2),
           known=(("tuned", TUNED), ("tuned-mixed", TUNED_MIXED), ("fast-ceiling", FAST_CEILING))),
)}


def compare(t: Target, out: str, rows, seeds, stage: str, **kw):
    """A comparison on training or validation seeds (no claim: nothing is evaluated)."""
    return run_comparison(CompareConfig(t.env, t.overrides, rows=tuple(rows), seeds=tuple(seeds), scratch=False,
                                        workers=2, out=t.out / out,
                                        command=f"python benchmarks/ceiling.py --target {t.name} --only {stage}",
                                        **kw))


def evaluate(t: Target, rows, **kw):
    """The evaluation on fresh seeds, claimed in the ledger before it plays."""
    return Evaluation("ceiling", "1", t.where, t.eval_seeds, tuple(rows), t.out / "evaluate",
                      f"python benchmarks/ceiling.py --target {t.name} --only evaluate", **kw).run()


# ---- fast and subset -------------------------------------------------------------------------------

def stage_plans(t: Target, stages: dict) -> None:
    comp = compare(t, "plans", ("heuristic", f"simic=policy:{LEARNED}"), t.plan_seeds, "plans")
    for row in ("heuristic", "simic"):
        plan, played = modal_plan(comp.rows[row])
        budget = int(played[0].config["max_epochs"])
        stages[f"plan:{row}"] = f"{plan.describe(budget)} ({len(played)} of {len(comp.rows[row])} training episodes)"
        try:
            twin_schedule(plan, budget).save(t.out / f"twin-{row}.json")
        except ValueError as e:  # a plan that culls has no static twin
            stages[f"plan:{row}"] += f"; no twin: {e}"
    stages["episodes:plans"] = sum(len(r) for r in comp.rows.values())


def known_plans(t: Target) -> dict[str, Path]:
    twins = {f"twin-{row}": t.out / f"twin-{row}.json" for row in ("heuristic", "simic")}
    return dict(t.known) | {k: p for k, p in twins.items() if p.is_file()}


def run_searches(t: Target, stages: dict, name: str, seeds: tuple[int, ...]) -> None:
    """Three independent searches sharing one episode cache (a plan two of them try runs once)."""
    enqueue = tuple(str(p) for p in known_plans(t).values())
    for seed in SAMPLER_SEEDS:
        cfg = replace(t.tune, seeds=seeds, seed=seed, enqueue=enqueue, out=t.out / f"tune{name}{seed}",
                      cache=None if t.name == "fast" else t.out / f"tune{name}-cache")
        best, score = tune(cfg)
        stages[f"tune{name}{seed}"] = f"best mean validation accuracy {100 * score:.2f}% on training seeds " \
            f"{list(seeds)}: " + json.dumps(best.to_json()["seeds"])
    stages[f"budget:tune{name}"] = f"{len(SAMPLER_SEEDS)} searches x {t.tune.trials} trials x {len(seeds)} " \
        f"seeds = {len(SAMPLER_SEEDS) * t.tune.trials * len(seeds)} episodes planned"


def stage_tune(t: Target, stages: dict) -> None:
    run_searches(t, stages, "", t.tune.seeds)
    stages["episodes:tune"] = len(SAMPLER_SEEDS) * t.tune.trials * len(t.tune.seeds)


def validate(t: Target, stages: dict, name: str, seeds: tuple[int, ...]) -> Path:
    """Pick among the known plans and the searches' bests on validation seeds; copy it to ``best{name}.json``."""
    candidates = known_plans(t) | {f"search{s}": t.out / f"tune{name}{s}/best.json" for s in SAMPLER_SEEDS}
    if t.name != "fast":  # not growing is a static plan too (added after the fast target had run)
        candidates["none"] = Schedule().save(t.out / "none.json")
    candidates = distinct_files(candidates)
    comp = compare(t, f"validation{name}", (f"{k}=schedule:{p}" for k, p in candidates.items()), seeds, "validate")
    chosen, means = pick(comp.rows, candidates)
    shutil.copyfile(candidates[chosen], t.out / f"best{name}.json")
    stages[f"chosen{name}"] = f"{chosen} ({candidates[chosen]}); mean final validation accuracy on validation " \
        f"seeds {list(seeds)}: " + ", ".join(f"{k} {v:.2f}" for k, v in means.items())
    stages["episodes:validate"] = stages.get("episodes:validate", 0) + sum(len(r) for r in comp.rows.values())
    return t.out / f"best{name}.json"


def stage_validate(t: Target, stages: dict) -> None:
    stages["episodes:validate"] = 0
    validate(t, stages, "", t.validation_seeds)


def stage_evaluate(t: Target, stages: dict) -> None:
    rows = ("no-growth", "heuristic", f"tuned=schedule:{TUNED}", f"ceiling=schedule:{t.out / 'best.json'}",
            f"simic=policy:{LEARNED}")
    every = {k: RESULTS / v for k, v in EVERY_LEARNED.items()}
    rows += tuple(f"{k}=policy:{p}" for k, p in every.items())
    comp = evaluate(t, rows, twins=("heuristic", "simic", *every), flops_matched=("ceiling",),
                    allow_dirty=t.allow_dirty)
    stages["episodes:evaluate"] = sum(len(r) for r in comp.rows.values())
    print(comp.table)


# ---- mixed: per family and for all -----------------------------------------------------------------

def distribution(t: Target):
    from esper_env.tasks import task_distribution

    return task_distribution(t.overrides["tasks"], t.overrides.get("data_root"))


def families(t: Target):
    return distribution(t).families


def family_seeds(t: Target, family: str, seeds, n: int) -> tuple[int, ...]:
    """The first ``n`` of ``seeds`` whose task is drawn from ``family``."""
    dist = distribution(t)
    return tuple([s for s in seeds if dist.family_of(s) == family][:n])


def stage_tune_mixed(t: Target, stages: dict) -> None:
    n = len(t.tune.seeds) // 2
    total = 0
    for f in families(t):
        seeds = family_seeds(t, f.name, range(1000, 2000), n)
        run_searches(t, stages, f"-{f.name}", seeds)
        total += len(SAMPLER_SEEDS) * t.tune.trials * len(seeds)
    run_searches(t, stages, "-all", t.tune.seeds)
    stages["episodes:tune"] = total + len(SAMPLER_SEEDS) * t.tune.trials * len(t.tune.seeds)


def stage_validate_mixed(t: Target, stages: dict) -> None:
    stages["episodes:validate"] = 0
    own = {f.name: Schedule.load(validate(t, stages, f"-{f.name}", family_seeds(t, f.name, range(900, 1000), 6)))
           for f in families(t)}
    everyone = Schedule.load(validate(t, stages, "-all", tuple(range(900, 912))))
    TaskSchedule(family_cases(families(t), own), default=everyone).save(t.out / "per-family.json")


def stage_evaluate_mixed(t: Target, stages: dict) -> None:
    rows = ("no-growth", "heuristic", f"tuned=schedule:{TUNED}", f"tuned-mixed=schedule:{TUNED_MIXED}",
            f"one-for-all=schedule:{t.out / 'best-all.json'}", f"per-family=schedule:{t.out / 'per-family.json'}",
            f"simic=policy:{LEARNED}")
    comp = evaluate(t, rows, twins=("heuristic", "simic"), allow_dirty=t.allow_dirty)
    stages["episodes:evaluate"] = sum(len(r) for r in comp.rows.values())
    m, lo, hi = paired(comp.rows, "per-family", "one-for-all", test_points)
    stages["per-family - one-for-all"] = f"{fmt_ci(m, lo, hi, signed=True)} test points, {len(t.eval_seeds)} seeds"
    for row in ("simic", "heuristic"):
        m, lo, hi = paired(comp.rows, row, "per-family", test_points)
        stages[f"{row} - per-family"] = fmt_ci(m, lo, hi, signed=True)
    print(comp.table)


STAGES = {"plans": stage_plans, "tune": stage_tune, "validate": stage_validate, "evaluate": stage_evaluate}
MIXED_STAGES = {"tune": stage_tune_mixed, "validate": stage_validate_mixed, "evaluate": stage_evaluate_mixed}


@dataclass
class Args:
    target: tuple[str, ...] = field(default=("fast",), metadata={"choices": list(TARGETS)})
    """Which ceilings to run."""
    only: tuple[str, ...] = field(default=tuple(STAGES), metadata={"choices": list(STAGES)})
    """Stages to run (mixed has no plans stage)."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (their diff's hash is recorded)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)
    for name in args.target:
        t = replace(TARGETS[name], allow_dirty=args.allow_dirty)
        stages_of = MIXED_STAGES if name == "mixed" else STAGES
        run_stages(t.out / "stages.json", {s: functools.partial(f, t) for s, f in stages_of.items()},
                   [s for s in args.only if s in stages_of], label=name)


if __name__ == "__main__":
    main()
