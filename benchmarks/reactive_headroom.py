"""Headroom above the reactive heuristic where seeds fail (issue 36): how much could any report-reader add to it,
how much does one more signal of the report recover, and how many evaluation seeds would show it?

    python benchmarks/reactive_headroom.py        # training seeds 7100-7179 (Fast: 7100-7119), 2 workers (~55 min)
    python benchmarks/reactive_headroom.py --seeds 1000 1001 --fast-seeds 1000 --branch-seeds 1000 \\
        --out runs/reactive-headroom-smoke

Issue 36 asks a learned Tamiyo to beat the reactive heuristic (paired 95% interval above 0) on the faulty family.
The reactive heuristic already reads the report: it culls a seed whose own loss diverges and grows again. Rows, on
``Esper-Faulty-v0`` (failure probability 0.25, 0.5 or 0.75 drawn per seed), training seeds only:

* ``reactive`` -- the heuristic as shipped;
* ``reactive-reveal`` -- the same heuristic *told* which seeds fail (:class:`lab.oracles.ReactiveReveal`): it culls a
  failed seed at its first report. Its margin bounds what a better failure detector adds to the heuristic;
* ``reveal`` -- issue 35's reveal oracle (the Fast ceiling plan, culling failed seeds a report later);
* ``potential-<x>`` -- probes (:mod:`lab.probes`): the heuristic also culling a GERMINATED or TRAINING seed whose
  ``potential`` (in the report and the observation) is below -x points: a failure its own loss hides shows there.
  The thresholds were tried first on training seeds 7000-7059; the committed numbers are on fresh ones.

The table gives each row − reactive (test points, paired by seed), per failure probability, and the evaluation
seeds a paired interval needs to clear 0 at that difference and spread (at the mean; with 80% power); a second
table says what the report showed of the seeds that failed (the reactive heuristic's reports of a GERMINATED or
TRAINING seed: its own loss, its potential; whether it failed read from the env); a third, what the probes cost on
stationary Fast; a fourth, what one branch label says at those states (CULL instead of the heuristic's command, the
heuristic playing on: the label ``esper improve`` would write), and how many such states a critic needs. Per-seed
records in ``reports/`` and ``branches/`` (a rerun continues). Written to
``benchmarks/results/reactive-headroom/headroom.md`` (the runs and ``esper compare``'s table beside it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from esper_env.fileio import atomic_path
from lab.compare import CompareConfig, run_comparison
from lab.compare.stats import fmt_ci, mean_ci, test_points
from lab.options import parse_args

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "Esper-Faulty-v0"
ROWS = ("reactive", "reactive-reveal=py:lab.oracles:ReactiveReveal", "reveal=py:lab.oracles:FaultyRevealFast",
        "potential-2=py:lab.probes:Potential02", "potential-3=py:lab.probes:Potential03",
        "potential-5=py:lab.probes:Potential05")
BASE = "reactive"
FAST_ROWS = tuple(r for r in ROWS if "oracles" not in r)
"""Where nothing fails (``Esper-Fast-v0``): the probes' cost of culling a sound seed (no oracle: nothing to tell)."""
THRESHOLDS = (0.02, 0.03, 0.05)
"""The probes' thresholds (points of potential / 100)."""
Z95, Z80 = 1.96, 0.84
"""Normal quantiles: a two-sided 95% interval, and 80% power."""


def seeds_needed(mean: float, sd: float, power: bool) -> float:
    """Paired seeds for a 95% interval to clear 0 at difference ``mean`` and per-seed spread ``sd`` (normal
    approximation): at the mean, or with 80% power. inf when the difference is not positive."""
    if mean <= 0:
        return math.inf
    return ((Z95 + (Z80 if power else 0.0)) * sd / mean) ** 2


def _n(x: float) -> str:
    return "never (not above 0)" if math.isinf(x) else f"{math.ceil(x)}"


def branches(seeds: tuple[int, ...], workers: int, out: Path) -> str:
    """What one branch label says where the room is: CULL against the heuristic's own command at every report of a
    GERMINATED or TRAINING seed it keeps (:func:`lab.headroom.cull_branches`), by what the report showed."""
    from lab.headroom import cull_branches

    got = per_seed(cull_branches, seeds, workers, out / "branches")
    lines = ["## What one branch label says", "",
             f"On `{ENV_ID}` training seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}): at every report of a GERMINATED or "
             f"TRAINING seed that the reactive heuristic keeps ({len(got)} states), CULL it instead and let the "
             "heuristic play on (one branch, as `esper improve` labels); advantage = the branch's final validation "
             "accuracy − the episode's, in points. States a critic needs: for the mean advantage of the group to "
             "clear 0 at 95% (at the mean).", "",
             "| report | states | of them failed | CULL − own command, points | per-state sd | states needed |",
             "|---|---|---|---|---|---|"]
    groups = {f"potential < −{100 * x:g}": (lambda r, x=x: r["potential"] < -x) for x in (0.03,)}
    groups.update({"potential ≥ −3": lambda r: r["potential"] >= -0.03, "every state": lambda r: True})
    for name, keep in groups.items():
        rs = [r for r in got if keep(r)]
        if len(rs) < 2:
            lines.append(f"| {name} | {len(rs)} | — | — | — | — |")
            continue
        adv = np.array([100 * r["advantage"] for r in rs])
        sd = float(adv.std(ddof=1))
        lines.append(f"| {name} | {len(rs)} | {sum(r['failed'] for r in rs)} | "
                     f"{fmt_ci(*mean_ci(adv), signed=True)} | {sd:.2f} | {_n(seeds_needed(adv.mean(), sd, False))} |")
    return "\n".join(lines) + "\n"


def stationary(rows: dict) -> str:
    """The probes against the reactive heuristic where no seed fails."""
    base = {r.seed: test_points(r) for r in rows[BASE]}
    seeds = sorted(base)
    lines = ["## Where nothing fails", "", f"`Esper-Fast-v0`, training seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}): "
             "what a probe costs where every seed is sound (it culls one whose potential dips).", "",
             "| row | − reactive | culls an episode (reactive: "
             f"{np.mean([r.outcome.seeds_culled for r in rows[BASE]]):.2f}) |", "|---|---|---|"]
    for name, runs in rows.items():
        if name != BASE:
            d = [test_points(r) - base[r.seed] for r in runs]
            lines.append(f"| {name} | {fmt_ci(*mean_ci(d), signed=True)} | "
                         f"{np.mean([r.outcome.seeds_culled for r in runs]):.2f} |")
    return "\n".join(lines) + "\n"


def report(rows: dict, command: str) -> str:
    from scipy import stats

    base = {r.seed: r for r in rows[BASE]}
    seeds = sorted(base)
    p_of = {s: base[s].config["fault_p"] for s in seeds}
    ps = sorted(set(p_of.values()))
    first = base[seeds[0]]
    lines = ["# Headroom above the reactive heuristic where seeds fail", "",
             f"Command: `{command}`. `{ENV_ID}`, training seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}; failure "
             f"probability per seed: " + ", ".join(f"{p:g} on {sum(v == p for v in p_of.values())}" for p in ps)
             + f"). Machine: {first.machine}, torch {first.torch}, {first.date[:10]}. Test accuracy in points; "
             "differences paired by seed, 95% Student-t intervals.", "",
             f"Reactive heuristic: {np.mean([test_points(base[s]) for s in seeds]):.2f}%.", "",
             "| row | − reactive | " + " | ".join(f"p = {p:g}" for p in ps) + " | per-seed sd | interval half-width at "
             "20 seeds | seeds to clear 0 (at the mean / 80% power) |", "|---|---|" + "---|" * len(ps) + "---|---|---|"]
    for name, runs in rows.items():
        if name == BASE:
            continue
        by = {r.seed: test_points(r) for r in runs}
        d = np.array([by[s] - test_points(base[s]) for s in seeds])
        sd = float(d.std(ddof=1))
        per_p = [float(np.mean([x for s, x in zip(seeds, d) if p_of[s] == p])) for p in ps]
        half20 = stats.t.ppf(0.975, 19) * sd / math.sqrt(20)
        lines.append(f"| {name} | {fmt_ci(*mean_ci(d), signed=True)} | " + " | ".join(f"{x:+.2f}" for x in per_p)
                     + f" | {sd:.2f} | ±{half20:.2f} | {_n(seeds_needed(d.mean(), sd, False))} / "
                     f"{_n(seeds_needed(d.mean(), sd, True))} |")
    return "\n".join(lines) + "\n"


def per_seed(fn, seeds: tuple[int, ...], workers: int, folder: Path) -> list[dict]:
    """``fn(seed)`` (a list of plain records) for every seed, in worker processes; each seed's records are saved as
    ``folder/<seed>.json`` as it finishes, so a rerun continues."""
    import json

    from agents.parallel import WorkerDied, run_tasks

    folder.mkdir(parents=True, exist_ok=True)
    todo = [s for s in seeds if not (folder / f"{s}.json").is_file()]
    for seed, got in run_tasks(fn, todo, workers):
        if isinstance(got, WorkerDied):
            raise SystemExit(f"reactive_headroom.py: seed {seed}: {got.message}")
        with atomic_path(folder / f"{seed}.json", suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(got))
    return [r for s in seeds for r in json.loads((folder / f"{s}.json").read_text())]


def signal(seeds: tuple[int, ...], workers: int, out: Path) -> str:
    """What the report shows of a failed seed: the reactive heuristic's reports of a GERMINATED or TRAINING seed on
    ``seeds`` (:func:`lab.headroom.seed_reports`), by whether the seed failed and whether its own loss gave it away."""
    from lab.headroom import seed_reports

    reports = per_seed(seed_reports, seeds, workers, out / "reports")
    groups = {"sound": lambda r: not r["failed"], "failed, its own loss gives it away": lambda r: r["failed"] and
              r["flagged"], "failed, its own loss looks sound": lambda r: r["failed"] and not r["flagged"]}
    lines = ["## What the report shows of a failed seed", "",
             f"The reactive heuristic's reports of a GERMINATED or TRAINING seed on the same seeds ({len(reports)} "
             "reports; whether a seed failed is read from the env, the measurement's privilege). `potential` in "
             "points; own loss = `isolated_loss` / the host's training loss (the heuristic culls above "
             "1.3).", "",
             "| seed | stage | reports | own loss (median) | potential: min / median / max | "
             + " | ".join(f"potential < −{100 * x:g}" for x in THRESHOLDS) + " |", "|---|---|---|---|---|"
             + "---|" * len(THRESHOLDS)]
    for name, keep in groups.items():
        for stage in ("GERMINATED", "TRAINING"):
            rs = [r for r in reports if keep(r) and r["stage"] == stage]
            if not rs:
                continue
            pot = 100 * np.array([r["potential"] for r in rs])
            lines.append(f"| {name} | {stage} | {len(rs)} | {np.median([r['ratio'] for r in rs]):.2f} | "
                         f"{pot.min():+.1f} / {np.median(pot):+.1f} / {pot.max():+.1f} | "
                         + " | ".join(f"{100 * np.mean(pot < -100 * x):.0f}%" for x in THRESHOLDS) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class Args:
    seeds: tuple[int, ...] = tuple(range(7100, 7180))
    """Training seeds (>= 1000: headroom is measured before any learner, never on evaluation seeds)."""
    workers: int = 2
    """Worker processes (one torch thread each)."""
    branch_seeds: tuple[int, ...] = tuple(range(7100, 7140))
    """Training seeds whose live-seed states get a CULL branch (the last table; ~12 min on 2 workers)."""
    fast_seeds: tuple[int, ...] = tuple(range(7100, 7120))
    """Training seeds of ``Esper-Fast-v0`` (nothing fails) the probes also play."""
    out: Path = field(default=ROOT / "benchmarks/results/reactive-headroom")
    """Output folder (the runs are cached there: a rerun continues)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    if min(args.seeds + args.fast_seeds + args.branch_seeds) < 1000:
        raise SystemExit("reactive_headroom.py: error: headroom is measured on training seeds (>= 1000); "
                         f"got {min(args.seeds + args.fast_seeds + args.branch_seeds)}")
    command = "python benchmarks/reactive_headroom.py" + (
        "" if args.seeds == Args.seeds else f" --seeds {' '.join(map(str, args.seeds))}") + (
        "" if args.fast_seeds == Args.fast_seeds else f" --fast-seeds {' '.join(map(str, args.fast_seeds))}") + (
        "" if args.branch_seeds == Args.branch_seeds else f" --branch-seeds {' '.join(map(str, args.branch_seeds))}")
    comp = run_comparison(CompareConfig(env_id=ENV_ID, rows=ROWS, seeds=args.seeds, scratch=False, out=args.out,
                                        workers=args.workers, command=command))
    fast = run_comparison(CompareConfig(env_id="Esper-Fast-v0", rows=FAST_ROWS, seeds=args.fast_seeds, scratch=False,
                                        out=Path(args.out) / "fast", workers=args.workers, command=command))
    out = Path(args.out)
    text = (report(comp.rows, command) + "\n" + signal(args.seeds, args.workers, out) + "\n"
            + stationary(fast.rows) + "\n" + branches(args.branch_seeds, args.workers, out))
    with atomic_path(Path(args.out) / "headroom.md", suffix=".md") as tmp:
        Path(tmp).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
