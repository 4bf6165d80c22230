"""Simic v3, policy iteration from the best static plan (issue 27): label -> clone -> label the clone's states with
branches it plays -> clone, then read every round's clone on validation seeds beside the plan it started from.

    python benchmarks/simic3.py --replicate a           # one replicate of the whole pipeline; resumable
    python benchmarks/simic3.py --replicate a b c       # three, each on its own training seeds
    python benchmarks/simic3.py --learner residual --replicate a b c   # clones residual to the plan

Where: ``Esper-Fast-v0`` (one task; its static ceiling is known: ``benchmarks/results/ceiling/fast/best.json``).
Round 0 starts from that ceiling plan, extended so that a branch growing some other seed is finished rather
than left in TRAINING (``ceiling_plus``: an ADVANCE rule after one TRAINING epoch for every other slot rank and
blueprint, germinating at ``at=0.99``, an epoch no budget reaches: on the plan's own states it plays exactly as
the plan). Later rounds: the last clone plays the episodes and every branch (``esper iterate``'s defaults).
Each replicate labels its own training seeds (``FIRST_SEED``).

Learners: ``plain`` clones (Simic v2's: the network must learn the whole plan from the labels) or ``residual``
clones (:mod:`agents.residual`: the network's logits must overrule the ceiling-plus plan by a bonus, so an untrained
clone *is* the plan and cloning learns only where the improved teacher deviates). Round 0's labels do not depend on
the learner (same start, seeds and settings), so the residual run copies the plain run's file when it exists.

Validation: final *validation* accuracy on seeds 900-919 of every round's clone beside the ceiling and the
heuristic; no evaluation seeds are touched here (a claim needs three replicates and a fresh evaluation range
from the ledger).

Outputs: ``benchmarks/results/simic3/pi-fast[-residual]/<replicate>/`` (``round<k>/labels.npz``,
``round<k>/policy.zip``, ``iterate.json``, ``validation/``) and ``summary.md`` beside them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from agents.schedule import Schedule
from agents.simic.bc import behaviour_clone
from agents.simic.dataset import load as load_demonstrations
from agents.simic.iterate import IterateConfig, iterate
from esper_env.fileio import portable
from lab.compare import CompareConfig, run_comparison
from lab.compare.stats import paired, pick, test_points, validation_points
from lab.evaluation import Evaluation, GoalCheck, flops_ratio, said, setting, write_goal
from lab.options import parse_args

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
CEILING = RESULTS / "ceiling/fast/best.json"
OUT = RESULTS / "simic3/pi-fast"
LEARNERS = {"plain": OUT, "residual": RESULTS / "simic3/pi-fast-residual"}
"""Where each learner's replicates go."""
FIRST_SEED = {"a": 3000, "b": 3100, "c": 3200}
"""Training seeds of each replicate (rounds take consecutive blocks of ``EPISODES``)."""
ROUNDS, EPISODES = 2, 8
BONUSES = (3.0, 6.0, 12.0)
"""Residual learner: the plan's head start in logits. Rounds are cloned with the first; the last round's labels are
also cloned with the others, and validation picks among them (a larger bonus overrules the plan less often)."""
VALIDATION_SEEDS = tuple(range(900, 920))


def ceiling_plus() -> Path:
    """The Fast ceiling plan with ADVANCE rules for every other (slot rank, blueprint), written once."""
    return Schedule.load(CEILING).extended().save(OUT / "ceiling-plus.json")


def bonus_policy(folder: Path, bonus: float) -> Path:
    """The last round's residual clone with another bonus (the first bonus's is ``policy.zip``)."""
    return folder / f"round{ROUNDS - 1}" / (f"policy-bonus{bonus:g}.zip" if bonus != BONUSES[0] else "policy.zip")


def finals(learner: str, replicate: str) -> dict[str, Path]:
    """The last round's clones of a replicate, by validation row name."""
    folder = LEARNERS[learner] / replicate
    if learner != "residual":
        return {f"round{ROUNDS - 1}": folder / f"round{ROUNDS - 1}/policy.zip"}
    return {f"round{ROUNDS - 1}" + (f"-bonus{b:g}" if b != BONUSES[0] else ""): bonus_policy(folder, b)
            for b in BONUSES}


def validation(learner: str, replicate: str):
    """A replicate's validation comparison: heuristic, ceiling, every round's clone (and the last round's with each
    bonus); cached by run, so a rerun only plays what is new."""
    folder = LEARNERS[learner] / replicate
    clones = {f"round{k}": folder / f"round{k}/policy.zip" for k in range(ROUNDS)} | finals(learner, replicate)
    rows = ("heuristic", f"ceiling=schedule:{CEILING}", *(f"{k}=policy:{p}" for k, p in clones.items()))
    return run_comparison(CompareConfig("Esper-Fast-v0", rows=rows, seeds=VALIDATION_SEEDS, scratch=False, workers=2,
                                        out=folder / "validation",
                                        command=f"python benchmarks/simic3.py --learner {learner} "
                                                f"--replicate {replicate}"))


def run(replicate: str, learner: str = "plain") -> str:
    folder = LEARNERS[learner] / replicate
    plan = ceiling_plus()
    cfg = IterateConfig("Esper-Fast-v0", {}, rounds=ROUNDS, episodes=EPISODES, first_seed=FIRST_SEED[replicate],
                        start=f"schedule:{plan}", stride=4, concurrent=True, bc_epochs=300, out=folder, workers=2,
                        residual=plan if learner == "residual" else None)
    same = OUT / replicate / "round0/labels.npz"  # round 0's labels: the same file whatever the learner
    if learner != "plain" and same.is_file() and not cfg.labels(0).is_file():
        cfg.labels(0).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(same, cfg.labels(0))
    summary = iterate(cfg)
    if learner == "residual":
        for bonus in BONUSES[1:]:
            if not bonus_policy(folder, bonus).is_file():
                behaviour_clone(replace(cfg.bc_config(ROUNDS - 1), out=bonus_policy(folder, bonus),
                                        residual_bonus=bonus))
    comp = validation(learner, replicate)
    means = {row: sum(validation_points(r) for r in recs) / len(recs) for row, recs in comp.rows.items()}
    ceiling = {r.seed: validation_points(r) for r in comp.rows["ceiling"]}
    lines = [f"### {learner} replicate {replicate} (training seeds {FIRST_SEED[replicate]}-"
             f"{FIRST_SEED[replicate] + ROUNDS * EPISODES - 1})", "",
             "| round | behaviour / rollout | branch epochs | episode-equivalents | label wall s | held-out agreement |"
             " validation acc. | − ceiling (paired mean) |", "|---|---|---|---|---|---|---|---|"]
    for k in range(ROUNDS):
        r = summary["rounds"][str(k)]
        diff = [validation_points(x) - ceiling[x.seed] for x in comp.rows[f"round{k}"]]
        wall = f"{r['label_wall_s']:.0f}" if r["label_wall_s"] >= 1 else "0 (the plain run's file)"
        lines.append(f"| {k} | {r['behaviour'].split('/')[-1]} | {r['branch_epochs']} | {r['episode_equivalents']} | "
                     f"{wall} | {100 * r['held_out_agreement']:.1f}% | {means[f'round{k}']:.2f} | "
                     f"{sum(diff) / len(diff):+.2f} |")
    for row in [r for r in comp.rows if "-bonus" in r]:
        diff = [validation_points(x) - ceiling[x.seed] for x in comp.rows[row]]
        lines.append(f"| {row} | (round {ROUNDS - 1}'s labels, another bonus) | | | | | {means[row]:.2f} | "
                     f"{sum(diff) / len(diff):+.2f} |")
    first = load_demonstrations(cfg.labels(0)).episodes.values()  # epoch 0: every seed's report is nearly the same
    kept = sum(int(ep.teacher[0] == ep.action[0]) for ep in first)
    lines += ["", f"At epoch 0, where the reports of all seeds are nearly the same, the improved teacher keeps the "
              f"plan's command on {kept} of {len(first)} round-0 seeds."]
    lines += ["", f"Validation accuracy on seeds 900-919: heuristic {means['heuristic']:.2f}, ceiling "
              f"{means['ceiling']:.2f} (table: `{folder / 'validation/table.md'}`).", ""]
    return "\n".join(lines)


# ---- evaluation: the replicates against the static ceiling on fresh seeds ----------------------------------------

@dataclass(frozen=True)
class Where:
    """One evaluation setting (lab.evaluation.SETTINGS): its fresh seeds (claimed in the ledger) and its static
    opponents."""

    setting: str
    seeds: tuple[int, ...]
    static: Path
    """The single best static schedule (the ceiling picked on validation seeds, issue 26)."""
    oracle: Path | None = None
    """The per-family static oracle (a task schedule; task distribution only)."""


WHERE = {
    "fast": Where("fast", tuple(range(620, 640)), CEILING),
    "mixed": Where("mixed-heldout", tuple(range(620, 650)), RESULTS / "ceiling/mixed/best-all.json",
                   RESULTS / "ceiling/mixed/per-family.json"),
    "subset": Where("subset", tuple(range(610, 620)), RESULTS / "ceiling/subset/best.json"),
}
"""Fresh ranges from the ledger (earlier attempts used 0-19, 500-509 and 600-619 on these envs)."""
ATTEMPT = ("simic3", "1")
"""The ledger's name for this evaluation."""




def interval(comp, a: str, b: str) -> tuple[float, float, float]:
    return paired(comp.rows, a, b, test_points)


def evaluate(learner: str, replicates: list[str], allow_dirty: bool = False) -> str:
    """Pick ``simic`` among the replicates' final clones on validation seeds, then play every replicate, the
    heuristic, no-growth, the static ceiling (and the per-family oracle) and simic's static twin on fresh evaluation
    seeds of Fast, the held-out task distribution and the real subset; returns goal.md's text."""
    policies, best = {}, {}
    for r in replicates:  # each replicate's final clone: its best bonus on validation seeds
        comp = validation(learner, r)
        row, _ = pick(comp.rows, finals(learner, r))
        policies[r], best[r] = finals(learner, r)[row], comp.rows[row]
    chosen, means = pick(best, replicates)
    out = LEARNERS[learner] / "evaluate"
    lines = [f"# Simic v3 ({learner} clones): goal check on fresh evaluation seeds", "",
             f"Command: `python benchmarks/simic3.py --learner {learner} --replicate {' '.join(replicates)} "
             "--evaluate`. Generated from the runs in `evaluate/<env>/`.", "",
             f"`simic` = replicate {chosen} (the best final clone on validation seeds 900-919, mean validation "
             "accuracy " + ", ".join(f"{r} {m:.2f} (`{portable(policies[r])}`)" for r, m in means.items())
             + "). Paired 95% intervals on test "
             "accuracy (points); FLOPs relative to the bare host (no-growth) on the same seeds.", ""]
    checks = []
    for name, w in WHERE.items():
        rows = ["no-growth", "heuristic", f"static=schedule:{w.static}",
                *([f"oracle=schedule:{w.oracle}"] if w.oracle else []), f"simic=policy:{policies[chosen]}",
                *(f"replicate-{r}=policy:{p}" for r, p in policies.items() if r != chosen)]
        comp = Evaluation(*ATTEMPT, w.setting, w.seeds, tuple(rows), out / name,
                          f"python benchmarks/simic3.py --learner {learner} --replicate {' '.join(replicates)} "
                          "--evaluate", twins=("simic",), allow_dirty=allow_dirty).run()  # claims the seeds first
        flops = {row: flops_ratio(comp.rows, row) for row in comp.rows}
        acc = {row: float(np.mean([test_points(r) for r in recs])) for row, recs in comp.rows.items()}
        statics = [row for row in comp.rows if row in ("no-growth", "static", "oracle") or row.startswith("twin:")]
        cheap = [row for row in statics if flops[row] <= flops["simic"] + 1e-9]
        matched = max(cheap, key=lambda row: acc[row])  # the best static at <= simic's FLOPs (by its test mean)
        env_id, seeds = setting(w.setting).env_id, f"{w.seeds[0]}-{w.seeds[-1]} ({len(w.seeds)})"
        lines += [f"## {env_id} ({name}), evaluation seeds {seeds}", "",
                  "| row | test acc. % | FLOPs × bare | simic − row |", "|---|---|---|---|"]
        for row in comp.rows:
            lines.append(f"| {row} | {acc[row]:.2f} | {flops[row]:.2f}× | "
                         f"{said(interval(comp, 'simic', row)) if row != 'simic' else '—'} |")
        lines += ["", f"Equal FLOPs: the best static row at ≤ simic's FLOPs ({flops['simic']:.2f}×) is `{matched}` "
                  f"({flops[matched]:.2f}×): simic − it = {said(interval(comp, 'simic', matched))}.", ""]
        reps = ["simic", *(f"replicate-{r}" for r in replicates if r != chosen)]
        checks.append(GoalCheck(f"{name}: every replicate − heuristic > 0",
                                all(interval(comp, r, "heuristic")[1] > 0 for r in reps),
                                ", ".join(f"{r} {said(interval(comp, r, 'heuristic'))}" for r in reps)))
        if name == "mixed":
            checks += [GoalCheck("mixed: simic − single best static > 0", interval(comp, "simic", "static")[1] > 0,
                                 said(interval(comp, "simic", "static"))),
                       GoalCheck("mixed: simic ≥ per-family oracle − 0.5",
                                 interval(comp, "simic", "oracle")[1] >= -0.5, said(interval(comp, "simic", "oracle")))]
        else:
            opponents = ["static", *(["twin:simic"] if "twin:simic" in comp.rows else [])]
            worst = min(opponents, key=lambda row: interval(comp, "simic", row)[0])
            checks.append(GoalCheck(f"{name}: simic − max(best static, own twin) > 0",
                                    interval(comp, "simic", worst)[1] > 0,
                                    f"vs {worst}: {said(interval(comp, 'simic', worst))}"))
    return write_goal(LEARNERS[learner] / "goal.md", lines, checks, "Goal (issue 27)")


@dataclass
class Args:
    replicate: tuple[str, ...] = field(default=("a",), metadata={"choices": list(FIRST_SEED)})
    """Replicates of the whole pipeline to run (each its own training seeds)."""
    learner: str = field(default="plain", metadata={"choices": list(LEARNERS)})
    """plain clones, or clones residual to the plan."""
    evaluate: bool = False
    """After the replicates: pick simic on validation seeds, play everything on fresh evaluation seeds (claimed in
    the ledger) and write goal.md."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes (their diff's hash is recorded)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)
    if args.evaluate:
        print(evaluate(args.learner, list(args.replicate), args.allow_dirty))
        return
    LEARNERS[args.learner].mkdir(parents=True, exist_ok=True)
    parts = [run(r, args.learner) for r in args.replicate]
    text = (f"# Simic v3 on Esper-Fast-v0: policy iteration from the ceiling plan ({args.learner} clones), "
            "validation seeds\n\n"
            f"Command: `python benchmarks/simic3.py --learner {args.learner} --replicate {' '.join(args.replicate)}`."
            " Validation accuracy "
            "(final, points) on seeds 900-919; no evaluation seeds used.\n\n" + "\n".join(parts))
    (LEARNERS[args.learner] / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
