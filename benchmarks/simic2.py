"""Simic v2 end to end: improved-teacher labels from snapshot branches -> behaviour cloning -> model selection on
validation seeds -> comparison on held-out seeds (Esper-Fast-v0, the held-out task distribution, the real subset).

    python benchmarks/simic2.py                      # every stage of the latest attempt; resumable
    python benchmarks/simic2.py --attempt 1 --only evaluate   # just the first attempt's comparisons

Where it trains: the ``cheap`` task distribution of Esper-Mixed-v0 (synthetic families and the real CIFAR-10
subset at 16x16; training seeds 1000 and up); attempt 3 adds training episodes of the real subset itself.
Objectives: final validation accuracy (``val``: accuracy only) and the return with the parameter rent
(``return``); the same branches label both. Three behaviour-cloning runs per objective (sampling seeds 0, 1, 2),
all reported; the one named ``simic`` is chosen on validation seeds (900-919 of Esper-Fast-v0; attempt 3 also
900-909 of the subset), never on evaluation seeds. Outputs: ``benchmarks/results/simic2/attemptN/``: labels with
their branching budget, policies, ``validation/``, ``fast/``, ``mixed/``, ``cifar-subset/``, ``goal.md`` and
``stages.json`` with every stage's wall time.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from agents.schedule import Schedule
from agents.simic import BCConfig, behaviour_clone
from agents.simic.branch import ImproveConfig, improve, with_objective
from esper_env.fileio import atomic_path
from lab.compare import CompareConfig, run_comparison
from lab.compare.stats import fmt_ci, pick
from lab.evaluation import Evaluation, setting, training_overrides
from lab.options import parse_args
from lab.stages import run_stages

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
TUNED = RESULTS / "tuned/fast/best.json"
TASKS = training_overrides("mixed-heldout")
"""The cheap task distribution's training split (labels are made on it)."""
REAL = setting("subset").overrides
"""Esper-CIFAR10-v0 on the real subset as the project evaluates it (SETTINGS["cifar10-subset"])."""
OUT = RESULTS / "simic2"
"""Every attempt's folder is ``OUT / attemptN``."""


@dataclass(frozen=True)
class Attempt:
    """One Simic v2 attempt: where its files go and how its labels are made (the branching budget)."""

    number: int
    """1, 2, ... (``--attempt``)."""
    out: Path
    """Folder of the attempt's labels, policies, validation and evaluation tables."""
    improve: ImproveConfig
    """The improved teacher's settings (its ``out`` is set to ``out/improved-val.npz``)."""
    rollout_schedule: Schedule | None = None
    """The branches' rollout controller when it is a schedule: written to :attr:`rollout` before labelling."""
    subset_seeds: tuple[int, ...] = tuple(range(10))
    """Evaluation seeds on the real CIFAR-10 subset."""
    clones_on_fast: bool = False
    """Evaluate all three accuracy clones on Esper-Fast-v0, not only the chosen one."""
    reuse: tuple[Path, ...] = ()
    """Earlier attempts' folders whose labels (``improved-{objective}.npz``) join this attempt's in cloning."""
    validate_on_subset: bool = False
    """Also validate the accuracy clones on the real subset (seeds 900-909, beside tuned) and choose the one whose
    smaller margin over tuned (Esper-Fast-v0, subset) is largest; all accuracy clones are then evaluated there."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (``--allow-dirty``)."""

    @property
    def rollout(self) -> Path:
        return self.out / "rollout.json"


ATTEMPTS = {a.number: a for a in (
    # 1: the heuristic plays the episodes and every branch; no concurrent growth.
    Attempt(1, OUT / "attempt1",
            ImproveConfig("Esper-Mixed-v0", dict(TASKS), seeds=tuple(range(1000, 1048)), objective="val",
                          max_germinate=2, stride=2, margin=0.0, workers=2),
            subset_seeds=tuple(range(5))),
    # 2: rollout policy improvement over the tuned schedule (the strongest baseline), played online by the
    # improved teacher itself, with concurrent growth among the candidates.
    Attempt(2, OUT / "attempt2",
            ImproveConfig("Esper-Mixed-v0", dict(TASKS), seeds=tuple(range(1100, 1132)), objective="val",
                          behaviour="teacher", max_germinate=2, concurrent=True, stride=2, margin=0.0, workers=2),
            rollout_schedule=Schedule.load(TUNED).extended(), clones_on_fast=True),
    # 3: attempt 2's labels plus the same improved teacher on the real subset itself (training seeds), so that
    # the clone sees the states of the 32x32 small host and 20-epoch budget it is evaluated on.
    Attempt(3, OUT / "attempt3",
            ImproveConfig("Esper-CIFAR10-v0", dict(REAL), seeds=tuple(range(1200, 1206)), objective="val",
                          behaviour="teacher", rollout=f"schedule:{OUT / 'attempt2/rollout.json'}", max_germinate=2,
                          concurrent=True, stride=2, margin=0.0, workers=2),
            clones_on_fast=True, reuse=(OUT / "attempt2",), validate_on_subset=True),
)}
"""Attempt 1: 48 training tasks; at every 2nd epoch (and at every non-WAIT command of the rollout) branch WAIT,
the rollout's command, the legal ADVANCE / CULL and 2 GERMINATEs, each played to the end by the heuristic.
Attempt 2: 32 other training tasks, the same stride, GERMINATE candidates also while a seed grows, branches
played to the end by the tuned schedule (plus advance rules), and the teacher's own choices played.
Attempt 3: attempt 2's labels plus 6 training episodes of the real subset labelled the same way."""
BC = BCConfig(epochs=300, net_arch=(128, 128), entropy_coef=1.0, sharpen_entropy=0.1, holdout_every=6)
BC_SEEDS = (0, 1, 2)
OBJECTIVES = ("val", "return")
VALIDATION_SEEDS = tuple(range(900, 920))
SUBSET_VALIDATION_SEEDS = tuple(range(900, 910))
EVAL_SEEDS = tuple(range(20))
LEDGER_ENVS = {"fast": setting("fast").ledger_env, "mixed": setting("mixed-heldout").ledger_env,
               "cifar-subset": setting("subset").ledger_env}
"""How each evaluation is named in benchmarks/results/ledger.json."""
BASE_ROWS = ("no-growth", "fixed", "heuristic", f"tuned=schedule:{TUNED}",
             f"tuned-mixed=schedule:{RESULTS / 'tuned/mixed/best.json'}", f"bc=policy:{RESULTS / 'simic/bc.zip'}")


def policy(a: Attempt, objective: str, seed: int) -> Path:
    return a.out / objective / f"bc{seed}.zip"


def clone_rows(a: Attempt, objectives: tuple[str, ...] = OBJECTIVES) -> tuple[str, ...]:
    """Comparison rows of the attempt's clones (``val0=policy:...``), objective by objective."""
    return tuple(f"{o}{s}=policy:{policy(a, o, s)}" for o in objectives for s in BC_SEEDS)


def stage_improve(a: Attempt, stages: dict) -> None:
    cfg = replace(a.improve, out=a.out / "improved-val.npz")
    if a.rollout_schedule is not None:
        cfg = replace(cfg, rollout=f"schedule:{a.rollout_schedule.save(a.rollout)}")
    improve(cfg)
    with_objective(a.out / "improved-val.npz", "return", a.out / "improved-return.npz")


def stage_bc(a: Attempt, stages: dict) -> None:
    for objective in OBJECTIVES:
        files = (*(r / f"improved-{objective}.npz" for r in a.reuse), a.out / f"improved-{objective}.npz")
        for seed in BC_SEEDS:
            if not policy(a, objective, seed).is_file():
                behaviour_clone(replace(BC, data=files[0], also=files[1:], out=policy(a, objective, seed), seed=seed))


def stage_validate(a: Attempt, stages: dict) -> None:
    rows = clone_rows(a)
    tuned = (f"tuned=schedule:{TUNED}",) if a.validate_on_subset else ()
    comp = run_comparison(CompareConfig("Esper-Fast-v0", {}, rows=("heuristic", *tuned, *rows),
                                        seeds=VALIDATION_SEEDS, scratch=False, workers=2, out=a.out / "validation",
                                        command=f"python benchmarks/simic2.py --attempt {a.number} --only validate"))
    means = _means(comp)
    chosen = {o: max(BC_SEEDS, key=lambda s: means[f"{o}{s}"]) for o in OBJECTIVES}
    why = {o: f"bc seed {s} ({means[f'{o}{s}']:.2f}% mean final validation accuracy on validation seeds)"
           for o, s in chosen.items()}
    if a.validate_on_subset:
        real = _means(run_comparison(CompareConfig(
            "Esper-CIFAR10-v0", dict(REAL), rows=(*tuned, *clone_rows(a, ("val",))),
            seeds=SUBSET_VALIDATION_SEEDS, scratch=False, workers=2, out=a.out / "validation-subset",
            command=f"python benchmarks/simic2.py --attempt {a.number} --only validate  # subset")))
        margin = {s: min(means[f"val{s}"] - means["tuned"], real[f"val{s}"] - real["tuned"]) for s in BC_SEEDS}
        chosen["val"] = max(BC_SEEDS, key=margin.get)
        why["val"] = f"bc seed {chosen['val']}; smaller of (Fast, subset) clone − tuned in final validation " \
            "accuracy on validation seeds: " + ", ".join(f"seed {s} {m:+.2f}" for s, m in margin.items()) + " points"
    for o, s in chosen.items():
        shutil.copyfile(policy(a, o, s), a.out / f"simic-{o}.zip")
    stages["chosen"] = why


def _means(comp) -> dict[str, float]:
    """Mean final *validation* accuracy (points) of every row of a comparison on validation seeds: what picking
    reads. (Attempts 1-3 picked on the test accuracy of these seeds; a rerun picks on validation accuracy and
    may choose another clone.)"""
    return pick(comp.rows, comp.rows)[1]


def stage_evaluate(a: Attempt, stages: dict) -> None:
    simic = (f"simic=policy:{a.out / 'simic-val.zip'}", f"simic-rent=policy:{a.out / 'simic-return.zip'}")
    every, accuracy = clone_rows(a), clone_rows(a, ("val",))
    clones = accuracy if a.clones_on_fast else ()
    subset_clones = accuracy if a.validate_on_subset else ()
    base = BASE_ROWS + ((f"tuned-rollout=schedule:{a.rollout}",) if a.rollout_schedule is not None else ())
    attempt = str(a.number)
    run = lambda name: f"python benchmarks/simic2.py --attempt {a.number} --only evaluate  # {name}"  # noqa: E731
    evaluations = {
        # the committed baselines' runs seed the cache: only the new rows run
        "fast": (Evaluation("simic2", attempt, "fast", EVAL_SEEDS, (*base, *simic, *clones), a.out / "fast",
                            run("fast"), scratch=True, flops_matched=("simic",), allow_dirty=a.allow_dirty),
                 RESULTS / "baselines/fast/runs.jsonl"),
        "mixed": (Evaluation("simic2", attempt, "mixed-heldout", EVAL_SEEDS, (*base, *simic, *every), a.out / "mixed",
                             run("mixed"), allow_dirty=a.allow_dirty), RESULTS / "baselines/mixed/runs.jsonl"),
        "cifar-subset": (Evaluation("simic2", attempt, "subset", a.subset_seeds, (*base, *simic, *subset_clones),
                                    a.out / "cifar-subset", run("cifar-subset"), allow_dirty=a.allow_dirty),
                         RESULTS / "baselines/cifar-subset/runs.jsonl"),
    }
    for name, (ev, cache) in evaluations.items():
        ev.claim()  # fresh seeds, or a rerun, before anything plays
        ev.out.mkdir(parents=True, exist_ok=True)
        earlier_attempts = (b.out / name / "runs.jsonl" for b in ATTEMPTS.values() if b.number < a.number)
        for earlier in (cache, *earlier_attempts):  # earlier attempts' rows of the same seeds are reused too
            if earlier.is_file() and earlier.parent != ev.out:
                _merge(earlier, ev.out / "runs.jsonl")
        t = time.perf_counter()
        comp = ev.run()
        stages[f"evaluate:{name}"] = round(time.perf_counter() - t)
        print(comp.table)


def stage_goal(a: Attempt, stages: dict) -> None:
    """The issue's goal, from the evaluation's records: simic − heuristic, simic − tuned and simic − the better of
    the two on each seed (the strictest reading of "simic − max(heuristic, tuned)"), paired by seed -> goal.md."""
    from lab.compare.stats import mean_ci
    from lab.records import read_runs

    lines = [f"# Simic v2 attempt {a.number}: the goal on test accuracy (points, paired 95% Student-t CI)", "",
             f"Command: `python benchmarks/simic2.py --attempt {a.number} --only goal` (reads the evaluation's "
             "runs.jsonl)", "", "| where | seeds | row | − heuristic | − tuned | − max(heuristic, tuned) per seed |",
             "|---|---|---|---|---|---|"]
    for name in ("fast", "mixed", "cifar-subset"):
        runs: dict[str, dict[int, float]] = {}
        for r in read_runs(a.out / name / "runs.jsonl"):
            runs.setdefault(r.row, {})[r.seed] = 100 * r.outcome.test_accuracy
        for row in ("simic", "simic-rent", *sorted(r for r in runs if r[:-1] in OBJECTIVES)):
            seeds = sorted(set(runs[row]) & set(runs["heuristic"]) & set(runs["tuned"]))
            cells = []
            for base in (runs["heuristic"], runs["tuned"], None):
                d = [runs[row][s] - (base[s] if base else max(runs["heuristic"][s], runs["tuned"][s])) for s in seeds]
                m, lo, hi = mean_ci(d)
                cells.append(fmt_ci(m, lo, hi, signed=True))
            lines.append(f"| {name} | {len(seeds)} | {row} | " + " | ".join(cells) + " |")
    with atomic_path(a.out / "goal.md", suffix=".md") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _merge(src: Path, dst: Path) -> None:
    """Append ``src``'s records whose key ``dst`` lacks (the comparison's cache reads ``runs.jsonl``)."""
    old = dst.read_text().splitlines() if dst.is_file() else []
    have = {json.loads(line).get("key") for line in old}
    new = [line for line in src.read_text().splitlines() if json.loads(line).get("key") not in have]
    if new:
        with atomic_path(dst, suffix=".jsonl") as tmp:
            Path(tmp).write_text("".join(f"{line}\n" for line in old + new))


STAGES = {"improve": stage_improve, "bc": stage_bc, "validate": stage_validate, "evaluate": stage_evaluate,
          "goal": stage_goal}


@dataclass
class Args:
    attempt: int = field(default=max(ATTEMPTS), metadata={"choices": sorted(ATTEMPTS)})
    """Which attempt's settings and folder (default: the latest)."""
    only: tuple[str, ...] = field(default=tuple(STAGES), metadata={"choices": list(STAGES)})
    """Stages to run, in order."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (their diff's hash is recorded)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)  # rows name files relative to the repository: portable records
    a = dataclasses.replace(ATTEMPTS[args.attempt], allow_dirty=args.allow_dirty)
    run_stages(a.out / "stages.json", {name: functools.partial(stage, a) for name, stage in STAGES.items()},
               args.only, time_key="{stage}")


if __name__ == "__main__":
    main()
