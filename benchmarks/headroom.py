"""Headroom before a learner (issue 27): how much could reading the task, or the run, gain over one static plan?

    python benchmarks/headroom.py                   # mixed, then fast; resumable (episodes cached)
    python benchmarks/headroom.py --target mixed

Plays candidate plans on *training* seeds no search used (1100 on) and reads the table with
:func:`agents.headroom.headroom` (cross-fitted per-family oracle − single best static; the per-seed best plan,
in sample). Scores are final *validation* accuracy in points (the test split is not read).

* ``mixed`` (Esper-Mixed-v0, the cheap distribution, training draws): every static plan the static ceiling
  found or started from — each family's own pick, the pick for all, every search's best, the old tuned
  schedules, Esper-Fast-v0's ceiling — and no growth.
* ``fast`` (Esper-Fast-v0): the ceiling, the old tuned schedule, the best distinct plans of the three ceiling
  searches (by their training score), and no growth; one task, so only the per-seed best says anything.

Writes ``benchmarks/results/simic3/headroom/<target>/`` (the comparison) and ``headroom.md`` beside them.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict
from pathlib import Path

from agents.compare import CompareConfig, run_comparison
from agents.compare.stats import validation_points
from agents.headroom import headroom
from agents.paths import SUBSET_ROOT
from agents.schedule import distinct_files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
CEILING = RESULTS / "ceiling"
OUT = RESULTS / "simic3/headroom"
TASKS = dict(tasks="cheap", data_root=SUBSET_ROOT)
SEEDS = {"mixed": tuple(range(1100, 1130)), "fast": tuple(range(1100, 1116))}
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


def measure(target: str) -> str:
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
            f"{', '.join(f'{f}: {c}' for f, c in h.oracle.items())} | {v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}] | "
            f"{s[0]:+.2f} [{s[1]:+.2f}, {s[2]:+.2f}] |\n\nMean final validation accuracy per candidate: {means}.\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", nargs="+", choices=("mixed", "fast"), default=["mixed", "fast"])
    args = p.parse_args(argv)
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
