"""Headroom before a learner (issue 27): how much could reading the task, or the run, gain over one static plan?

    python benchmarks/headroom.py                   # mixed, then fast; resumable (episodes cached)
    python benchmarks/headroom.py --target mixed

Plays candidate plans on *training* seeds no search used (1100 on) and reads the table with
:func:`lab.headroom.headroom` (cross-fitted per-family oracle − single best static; the per-seed best plan,
in sample). Scores are final *validation* accuracy in points (the test split is not read).

* ``mixed`` (Esper-Mixed-v0, the cheap distribution, training draws): every static plan the static ceiling
  found or started from — each family's own pick, the pick for all, every search's best, the old tuned
  schedules, Esper-Fast-v0's ceiling — and no growth.
* ``fast`` (Esper-Fast-v0): the ceiling, the old tuned schedule, the best distinct plans of the three ceiling
  searches (by their training score), and no growth; one task, so only the per-seed best says anything.
* ``levers`` (the cheap distribution showed none: does any real lever move the best plan?): one lever at a
  time from two bases -- Esper-Fast-v0 (procedural 32 px) and the real subset at 16 px, tiny host, slots 1-2 --
  budgets of 8, 16 and 32 epochs, and the small host; the candidates are Fast's plans above (the ceiling, the
  old tuned schedule, two search plans) and plans written to span the space (:data:`SPANNING`: one seed early
  or late, long isolation, two seeds late, a small blueprint). Each lever setting is a family.

Writes ``benchmarks/results/headroom/<target>/`` (the comparison) and ``headroom.md`` beside them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agents.schedule import distinct_files
from lab.compare import CompareConfig, run_comparison
from lab.compare.stats import fmt_ci, validation_points
from lab.evaluation import training_overrides
from lab.headroom import headroom
from lab.options import parse_args
from lab.settings import SUBSET_ROOT

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
CEILING = RESULTS / "ceiling"
OUT = RESULTS / "headroom"
TASKS = training_overrides("mixed-heldout")
"""The cheap distribution's training split."""
SEEDS = {"mixed": tuple(range(1100, 1130)), "fast": tuple(range(1100, 1116)), "levers": tuple(range(1200, 1206))}
"""Training seeds (>= 1000) that no ceiling search played."""
FAST_SEARCH_PLANS = 5
"""Best distinct plans of Esper-Fast-v0's searches added as candidates."""


def mixed_candidates() -> dict[str, Path]:
    m = CEILING / "mixed"
    fams = sorted(p.name[len("best-"):-len(".json")] for p in m.glob("best-*.json") if p.name != "best-all.json")
    return {"all": m / "best-all.json", **{f: m / f"best-{f}.json" for f in fams},
            "tuned": RESULTS / "tuned/fast/best.json", "tuned-mixed": RESULTS / "tuned/mixed/best.json",
            "fast-ceiling": CEILING / "fast/best.json",
            **{p.parent.name: p for p in sorted(m.glob("tune-*[0-9]/best.json"))}}


def fast_candidates() -> dict[str, Path]:
    found = {"ceiling": CEILING / "fast/best.json", "tuned": RESULTS / "tuned/fast/best.json"}
    trials = []
    for run in sorted((CEILING / "fast").glob("tune[0-9]")):
        for t in map(json.loads, (run / "trace.jsonl").read_text().splitlines()):
            trials.append((t["score"], run / "trials" / f"{t['trial']}.json"))
    ranked = {f"{p.parent.parent.name}-t{p.stem}": p for _, p in sorted(trials, key=lambda t: -t[0])}
    return dict(list(distinct_files(found | ranked).items())[:len(found) + FAST_SEARCH_PLANS])


CIFAR16 = dict(data_root=SUBSET_ROOT, train_size=4170, val_size=1000, test_size=1017, max_epochs=16, host="tiny",
               image_size=16, eval_batch_size=250, blend_epochs=2, embargo_epochs=1, slots=(1, 2))
"""The cheap distribution's real family (``esper_env.tasks.cifar16_family``) at one setting, Fast's slots."""
LEVERS = {
    "fast": ("Esper-Fast-v0", {}), "fast-8ep": ("Esper-Fast-v0", dict(max_epochs=8)),
    "fast-32ep": ("Esper-Fast-v0", dict(max_epochs=32)), "fast-small": ("Esper-Fast-v0", dict(host="small")),
    "cifar16": ("Esper-CIFAR10-v0", CIFAR16), "cifar16-8ep": ("Esper-CIFAR10-v0", dict(CIFAR16, max_epochs=8)),
    "cifar16-32ep": ("Esper-CIFAR10-v0", dict(CIFAR16, max_epochs=32)),
    "cifar16-small": ("Esper-CIFAR10-v0", dict(CIFAR16, host="small")),
}
"""Lever settings (families) of the ``levers`` target: env id and overrides."""
SPANNING = {
    "one-early": [(0.0, 1, "conv_residual", 1)], "one-late": [(0.5, 1, "conv_residual", 2)],
    "one-long-isolation": [(0.0, 1, "conv_residual", 5)],
    "two-late": [(0.25, 1, "conv_residual", 1), (0.5, 0, "conv_residual", 1)],
    "small-blueprint": [(0.0, 1, "lowrank", 1), (0.1875, 0, "lowrank", 1)],
}
"""Plans written to span the space: (at, slot rank, blueprint, TRAINING epochs) per seed."""


def lever_candidates() -> dict[str, Path]:
    from agents.schedule import Schedule, ScheduledSeed

    (OUT / "levers" / "plans").mkdir(parents=True, exist_ok=True)
    plans = dict(list(fast_candidates().items())[:4])  # the ceiling, tuned, the two best distinct search plans
    for name, seeds in SPANNING.items():
        plans[name] = Schedule(tuple(ScheduledSeed(*s) for s in seeds)).save(OUT / "levers" / "plans" / f"{name}.json")
    return plans


def measure_levers() -> str:
    candidates = distinct_files(lever_candidates())
    rows = ("no-growth", *(f"{k}=schedule:{p}" for k, p in candidates.items()))
    scores: dict[str, dict[int, float]] = {}
    names = list(LEVERS)
    for i, (family, (env, overrides)) in enumerate(LEVERS.items()):
        comp = run_comparison(CompareConfig(env, dict(overrides), rows=rows, seeds=SEEDS["levers"], scratch=False,
                                            workers=2, out=OUT / "levers" / family,
                                            command="python benchmarks/headroom.py --target levers"))
        for row, records in comp.rows.items():  # one key per (family, seed): the family is its 100,000s
            scores.setdefault(row, {}).update({100_000 * i + r.seed: validation_points(r) for r in records})
    h = headroom(scores, lambda key: names[key // 100_000])
    (OUT / "levers" / "headroom.json").write_text(json.dumps(asdict(h), indent=1))
    v, s = h.value_of_task, h.per_seed_best
    head = ("| family | " + " | ".join(scores) + " | best |\n|" + "---|" * (len(scores) + 2) + "\n")
    body = ""
    for i, family in enumerate(names):
        means = {row: sum(x for k, x in sc.items() if k // 100_000 == i) / len(SEEDS["levers"])
                 for row, sc in scores.items()}
        top = max(means, key=means.get)
        body += f"| {family} | " + " | ".join(f"**{m:.2f}**" if row == top else f"{m:.2f}"
                                            for row, m in means.items()) + f" | {top} |\n"
    return (f"| levers | {h.seeds} ({', '.join(f'{f} {n}' for f, n in h.families.items())}) | {h.single} | "
            f"{', '.join(f'{f}: {c}' for f, c in h.oracle.items())} | {fmt_ci(*v, signed=True)} | "
            f"{fmt_ci(*s, signed=True)} |\n\nMean final validation accuracy (points) per family and "
            f"candidate, {len(SEEDS['levers'])} training seeds each ({SEEDS['levers'][0]}-{SEEDS['levers'][-1]}):\n\n"
            + head + body)


def measure(target: str) -> str:
    if target == "levers":
        return measure_levers()
    env, overrides = ("Esper-Mixed-v0", TASKS) if target == "mixed" else ("Esper-Fast-v0", {})
    candidates = distinct_files(mixed_candidates() if target == "mixed" else fast_candidates())
    rows = ("no-growth", *(f"{k}=schedule:{p}" for k, p in candidates.items()))
    comp = run_comparison(CompareConfig(env, dict(overrides), rows=rows, seeds=SEEDS[target], scratch=False,
                                        workers=2, out=OUT / target,
                                        command=f"python benchmarks/headroom.py --target {target}"))
    scores = {row: {r.seed: validation_points(r) for r in records} for row, records in comp.rows.items()}
    if target == "mixed":
        from esper_env.tasks import task_distribution

        family_of = task_distribution("cheap", SUBSET_ROOT).family_of
    else:
        def family_of(seed: int) -> str:
            return "fast"
    h = headroom(scores, family_of)
    (OUT / target / "headroom.json").write_text(json.dumps(asdict(h), indent=1))
    v, s = h.value_of_task, h.per_seed_best
    means = ", ".join(f"{k} {sum(x.values()) / len(x):.2f}" for k, x in scores.items())
    return (f"| {env} | {h.seeds} ({', '.join(f'{f} {n}' for f, n in h.families.items())}) | {h.single} | "
            f"{', '.join(f'{f}: {c}' for f, c in h.oracle.items())} | {fmt_ci(*v, signed=True)} | "
            f"{fmt_ci(*s, signed=True)} |\n\nMean final validation accuracy per candidate: {means}.\n")


@dataclass
class Args:
    target: tuple[str, ...] = field(default=("mixed", "fast"), metadata={"choices": ("mixed", "fast", "levers")})
    """Which headroom to measure: the cheap distribution, Fast, or one lever at a time."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    for target in args.target:
        row = measure(target)
        (OUT / f"{target}.md").write_text(
            f"Command: `python benchmarks/headroom.py --target {target}`\n\n"
            "| env | training seeds | single best static | per-family oracle | oracle − single (cross-fitted) | "
            "per-seed best plan − single (in sample) |\n|---|---|---|---|---|---|\n" + row)
        print(row, flush=True)


if __name__ == "__main__":
    main()
