"""Simic v3, policy iteration from the best static plan (issue 27): label -> clone -> label the clone's states with
branches it plays -> clone, then read every round's clone on validation seeds beside the plan it started from.

    python benchmarks/simic3.py --replicate a           # one replicate of the whole pipeline; resumable
    python benchmarks/simic3.py --replicate a b c       # three, each on its own training seeds

Where: ``Esper-Fast-v0`` (one task; its static ceiling is known: ``benchmarks/results/ceiling/fast/best.json``).
Round 0 starts from that ceiling plan, extended so that a branch growing some other seed is finished rather
than left in TRAINING (``ceiling_plus``: an ADVANCE rule after one TRAINING epoch for every other slot rank and
blueprint, germinating at ``at=0.99``, an epoch no budget reaches: on the plan's own states it plays exactly as
the plan). Later rounds: the last clone plays the episodes and every branch (``esper iterate``'s defaults).
Each replicate labels its own training seeds (``FIRST_SEED``). Validation: final *validation* accuracy on
seeds 900-919 of every round's clone beside the ceiling and the heuristic; no evaluation seeds are touched
here (a claim needs three replicates and a fresh evaluation range from the ledger).

Outputs: ``benchmarks/results/simic3/pi-fast/<replicate>/`` (``round<k>/labels.npz``, ``round<k>/policy.zip``,
``iterate.json``, ``validation/``) and ``summary.md`` beside them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agents.compare import CompareConfig, run_comparison
from agents.compare.stats import validation_points
from agents.schedule import Schedule, ScheduledSeed
from agents.simic.iterate import IterateConfig, iterate
from esper_env.leyline import LAYOUT_BLUEPRINTS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("benchmarks/results")
CEILING = RESULTS / "ceiling/fast/best.json"
OUT = RESULTS / "simic3/pi-fast"
FIRST_SEED = {"a": 3000, "b": 3100, "c": 3200}
"""Training seeds of each replicate (rounds take consecutive blocks of ``EPISODES``)."""
ROUNDS, EPISODES = 2, 8
VALIDATION_SEEDS = tuple(range(900, 920))


def ceiling_plus() -> Path:
    """The Fast ceiling plan with ADVANCE rules for every other (slot rank, blueprint), written once."""
    path = OUT / "ceiling-plus.json"
    plan = Schedule.load(CEILING).seeds
    named = {(s.slot, s.blueprint) for s in plan}
    extra = tuple(ScheduledSeed(0.99, r, b, 1) for r in range(3) for b in LAYOUT_BLUEPRINTS if (r, b) not in named)
    return Schedule(plan + extra).save(path)


def run(replicate: str) -> str:
    folder = OUT / replicate
    cfg = IterateConfig("Esper-Fast-v0", {}, rounds=ROUNDS, episodes=EPISODES, first_seed=FIRST_SEED[replicate],
                        start=f"schedule:{ceiling_plus()}", stride=4, concurrent=True, bc_epochs=300, out=folder,
                        workers=2)
    summary = iterate(cfg)
    rows = ("heuristic", f"ceiling=schedule:{CEILING}",
            *(f"round{k}=policy:{cfg.policy(k)}" for k in range(ROUNDS)))
    comp = run_comparison(CompareConfig("Esper-Fast-v0", rows=rows, seeds=VALIDATION_SEEDS, scratch=False, workers=2,
                                        out=folder / "validation",
                                        command=f"python benchmarks/simic3.py --replicate {replicate}"))
    means = {row: sum(validation_points(r) for r in recs) / len(recs) for row, recs in comp.rows.items()}
    ceiling = {r.seed: validation_points(r) for r in comp.rows["ceiling"]}
    lines = [f"### replicate {replicate} (training seeds {FIRST_SEED[replicate]}-"
             f"{FIRST_SEED[replicate] + ROUNDS * EPISODES - 1})", "",
             "| round | behaviour / rollout | branch epochs | episode-equivalents | label wall s | held-out agreement |"
             " validation acc. | − ceiling (paired mean) |", "|---|---|---|---|---|---|---|---|"]
    for k in range(ROUNDS):
        r = summary["rounds"][str(k)]
        diff = [validation_points(x) - ceiling[x.seed] for x in comp.rows[f"round{k}"]]
        lines.append(f"| {k} | {r['behaviour'].split('/')[-1]} | {r['branch_epochs']} | {r['episode_equivalents']} | "
                     f"{r['label_wall_s']:.0f} | {100 * r['held_out_agreement']:.1f}% | {means[f'round{k}']:.2f} | "
                     f"{sum(diff) / len(diff):+.2f} |")
    lines += ["", f"Validation accuracy on seeds 900-919: heuristic {means['heuristic']:.2f}, ceiling "
              f"{means['ceiling']:.2f} (table: `{folder / 'validation/table.md'}`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replicate", nargs="+", choices=list(FIRST_SEED), default=["a"])
    args = p.parse_args(argv)
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    parts = [run(r) for r in args.replicate]
    text = ("# Simic v3 on Esper-Fast-v0: policy iteration from the ceiling plan, validation seeds\n\n"
            f"Command: `python benchmarks/simic3.py --replicate {' '.join(args.replicate)}`. Validation accuracy "
            "(final, points) on seeds 900-919; no evaluation seeds used.\n\n" + "\n".join(parts))
    (OUT / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
