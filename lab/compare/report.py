"""The comparison's outputs: the markdown table, runs.jsonl, table.md and the figures."""

from __future__ import annotations

import json
import math

import numpy as np

from agents.registry import ControllerSpec
from esper_env import is_drawn
from esper_env.fileio import atomic_path

from .plan import NO_GROWTH_AT, SCRATCH, TWIN, WIDE_AT, split_row
from .stats import flops_ratio, fmt_ci, iqm_ci, mean_ci, paired, probability_of_improvement_ci, test_points


def markdown_table(comp) -> str:
    """One line per row (means with 95% CIs, paired differences), then grown-vs-scratch lines."""
    rows = comp.rows
    name_of = {agent: name for name, agent in map(split_row, comp.config.rows)}  # the reference rows, however named
    base_row, heur_row = name_of.get("no-growth", "no-growth"), name_of.get("heuristic", "heuristic")
    base = rows.get(base_row)
    base_flops = np.mean([r.outcome.train_flops for r in base]) if base else None
    head = ("| controller | test acc. % (95% CI) | Δ vs no-growth, pts [95% CI] | Δ vs heuristic, pts [95% CI] | "
            "val acc. % | params added | train FLOPs | wall s | germ. / foss. / culled |")
    lines = [head, "|" + "---|" * 9]
    for name, rs in rows.items():
        o = [r.outcome for r in rs]
        d_base = paired(rows, name, base_row, test_points) if name != base_row else None
        d_heur = paired(rows, name, heur_row, test_points) if name != heur_row else None
        flops = np.mean([x.train_flops for x in o])
        rel = f" ({flops_ratio(rows, name, base_row):.2f}×)" if base_flops else ""  # the one definition
        lines.append(
            f"| {name} | {fmt_ci(*mean_ci(test_points(r) for r in rs))} | "
            f"{fmt_ci(*d_base, signed=True) if d_base else '—'} | "
            f"{fmt_ci(*d_heur, signed=True) if d_heur else '—'} | "
            f"{np.mean([100 * x.val_accuracy for x in o]):.2f} | "
            f"{np.mean([x.total_params - x.host_params for x in o]):,.0f} | {flops:.3g}{rel} | "
            f"{np.mean([r.wall_s for r in rs]):.0f} | "
            f"{np.mean([x.seeds_germinated for x in o]):.1f} / {np.mean([x.seeds_fossilized for x in o]):.1f} / "
            f"{np.mean([x.seeds_culled for x in o]):.1f} |")
    lines.append("")
    for name in rows:
        if name.startswith(SCRATCH) and name[len(SCRATCH):] in rows:
            grown = name[len(SCRATCH):]
            d = paired(rows, grown, name, test_points)
            f_g, f_s = (np.mean([r.outcome.train_flops for r in rows[x]]) for x in (grown, name))
            lines.append(f"* {grown} (grown) − {name} (same final architecture from the start): "
                         f"{fmt_ci(*d, signed=True)} pts, at {f_g / f_s:.2f}× its training FLOPs.")
    from ..twin import twin_of

    for name in comp.config.twins:
        if name in rows and TWIN + name not in rows:
            try:
                twin_of(rows[name], comp.config.tasks())
                why = "its twin's runs are missing (rerun the same command)"
            except ValueError as e:  # names the plan that culls, and on a task distribution its family
                why = str(e)
            lines.append(f"* {name} has no static twin: {why}.")
        if name in rows and TWIN + name in rows:
            _, said = twin_of(rows[name], comp.config.tasks())
            d = paired(rows, name, TWIN + name, test_points)
            lines.append(f"* {name} − {TWIN}{name} (its most common plan as a static schedule: {said}): "
                         f"{fmt_ci(*d, signed=True)} pts.")
    for name in comp.config.flops_matched:
        for prefix, what in ((NO_GROWTH_AT, "the bare host trained longer"), (WIDE_AT, "a wider host")):
            other = prefix + name
            if name in rows and other in rows:
                d = paired(rows, name, other, test_points)
                f_g, f_o = (np.mean([r.outcome.train_flops for r in rows[x]]) for x in (name, other))
                lines.append(f"* {name} − {other} ({what}, same training FLOPs per seed): "
                             f"{fmt_ci(*d, signed=True)} pts, at {f_g / f_o:.2f}× its training FLOPs.")
    lines += ["", *rl_table(comp)]
    named = [(name, agent) for name, agent in map(split_row, comp.config.rows) if name != agent]
    if named:
        lines += [""] if lines[-1] else []
        lines.append("Rows: " + "; ".join(f"{name} = `{agent}`" for name, agent in named) + ".")
    n = len(comp.config.seeds)
    lines.append("")
    lines.append(f"Mean over {n} seeds ({', '.join(map(str, comp.config.seeds))}); intervals are Student-t 95% "
                 "CIs (scipy), differences paired by seed. params, FLOPs, wall and seed counts are means. "
                 + provenance([r for rs in rows.values() for r in rs]))
    lines += ["", verdict(comp)]
    return "\n".join(lines)


def verdict(comp) -> str:
    """One sentence from the numbers: the row with the best mean test accuracy against every other controller
    row (scratch and compute-matched rows aside), each difference paired by seed with its 95% interval, and
    whether that interval excludes 0."""
    rows = {n: rs for n, rs in comp.rows.items() if not n.startswith((SCRATCH, NO_GROWTH_AT, WIDE_AT))}
    means = {n: float(np.mean([test_points(r) for r in rs])) for n, rs in rows.items() if rs}
    if not means:
        return "No run finished, so there is no verdict (see the failures above)."
    best = max(means, key=means.get)
    beats, level, loses = [], [], []
    for other in rows:
        if other == best:
            continue
        m, lo, hi = paired(rows, best, other, test_points)
        said = f"{other} ({fmt_ci(m, lo, hi, signed=True)} points)"
        (beats if lo > 0 else loses if hi < 0 else level).append(said)  # nan bounds (one seed): level
    n = len({r.seed for rs in rows.values() for r in rs})
    if n < 2:  # one seed has no interval: say the numbers, claim nothing
        others = ", ".join(f"{o} {means[o]:.2f}%" for o in rows if o != best)
        return (f"On this one seed, {best} has the best test accuracy ({means[best]:.2f}%)"
                + (f"; {others}" if others else "") + ". One seed gives no interval: run several seeds before "
                "reading a difference.")
    text = f"On these {n} seeds, {best} has the best mean test accuracy ({means[best]:.2f}%)"
    if beats:
        text += "; it beats " + _join(beats) + ", paired 95% intervals above 0"
    if level:
        text += "; it is not separated from " + _join(level) + (", whose interval includes 0" if len(level) == 1
                                                                else ", whose intervals include 0")
    if loses:  # only possible where pairing disagrees with the means
        text += "; paired by seed it loses to " + _join(loses)
    return text + "."


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _said(values: set, missing: str) -> str:
    known = sorted(v for v in values if v is not None)
    return ", ".join(known) + (f" and {missing}" if None in values else "") if known else missing


def provenance(runs) -> str:
    """Which precision, instruction set and commit made ``runs`` (one sentence); raises if they mix precisions,
    which would pair runs whose numbers are not comparable."""
    precisions = {r.precision for r in runs}
    if len(precisions) > 1:
        raise ValueError(f"these runs were made in different precisions ({_said(precisions, 'unknown')}); "
                         "a comparison pairs runs of one precision only: rerun it (the cache keys differ)")
    commits = {None if not r.commit else r.commit if r.commit == "unknown" else
               r.commit[:12] + ("+dirty" if r.commit.endswith("+dirty") else "")
               + (" (derived: the commit that added the result)" if r.commit_derived else "") for r in runs}
    return (f"Trained in {_said(precisions, 'an unrecorded precision')} on "
            f"{_said({r.isa for r in runs}, 'unrecorded')} kernels, "
            f"code at commit {_said(commits, 'unrecorded')}.")


def reference_rows(comp) -> dict[str, str]:
    """The rows other rows are read against: no-growth, heuristic and (if present) the tuned schedule, by name."""
    name_of = {agent: name for name, agent in map(split_row, comp.config.rows)}
    refs = {"no-growth": name_of.get("no-growth", "no-growth"), "heuristic": name_of.get("heuristic", "heuristic")}
    tuned = next((name for name, agent in map(split_row, comp.config.rows)
                  if ControllerSpec.parse(agent, named=False).kind == "schedule"), None)
    if tuned is not None:
        refs["tuned"] = tuned
    return {k: v for k, v in refs.items() if v in comp.rows}


def rl_table(comp) -> list[str]:
    """Per row the IQM of test accuracy with a bootstrap 95% CI, and for every row that grows the probability
    that one of its runs beats one of the heuristic's (and the tuned schedule's), with its bootstrap CI."""
    rows, refs = comp.rows, reference_rows(comp)
    others = [r for r in ("heuristic", "tuned") if r in refs]
    lines = ["| controller | IQM test acc. % [95% bootstrap CI] | "
             + " | ".join(f"P(better than {refs[r]}) [95% CI]" for r in others) + " |",
             "|" + "---|" * (2 + len(others))]
    for name, rs in rows.items():
        m, lo, hi = iqm_ci([test_points(r) for r in rs])
        cells = []
        for ref in others:
            if name in (refs[ref], refs.get("no-growth")) or ref not in refs:
                cells.append("—")
                continue
            p, plo, phi = probability_of_improvement_ci([test_points(r) for r in rs],
                                                        [test_points(r) for r in rows[refs[ref]]])
            cells.append(f"{p:.2f}" + ("" if math.isnan(plo) else f" [{plo:.2f}, {phi:.2f}]"))
        iq = f"{m:.2f}" + ("" if math.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]")
        lines.append(f"| {name} | {iq} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("IQM: mean of the middle half of the seeds; P(better than B): the chance that a run of the row beats "
                 "a run of B (ties count half; 0.50 = neither is better), as rliable reads RL results; percentile "
                 "bootstrap over seeds (scipy, 2,000 resamples).")
    return lines


def write_outputs(comp) -> None:
    """runs.jsonl, table.md (with the command, config, machine and dates), curves.png and flops.png."""
    from ..plots import plot_accuracy_vs_flops, plot_comparison_curves, plot_intervals, plot_pareto

    out = comp.config.out
    runs = [r for rs in comp.rows.values() for r in rs]
    with atomic_path(out / "runs.jsonl", suffix=".jsonl") as tmp, open(tmp, "w") as f:
        for r in runs:
            f.write(json.dumps(r.to_dict()) + "\n")
    cfg = comp.config
    dates = sorted(r.date for r in runs)
    machines = sorted({r.machine for r in runs})
    versions = sorted({r.version for r in runs})
    header = (f"# Comparison on {cfg.env_id}\n\n"
              + (f"Command: `{cfg.command}`\n\n" if cfg.command else "")
              + (f"Config: `{json.dumps(cfg.env_config().to_dict())}`\n\n" if not is_drawn(cfg.env_id) else
                 f"Config: a task drawn per seed (`{json.dumps(cfg.overrides)}`; each run's config is in "
                 "runs.jsonl)\n\n")
              + f"Seeds {list(cfg.seeds)}; {len(runs)} runs, one torch thread each, made {dates[0]} to {dates[-1]} on "
              f"{'; '.join(machines)} (esper {', '.join(versions)}). {provenance(runs)}\n\n")
    with atomic_path(out / "table.md", suffix=".md") as tmp, open(tmp, "w") as f:
        f.write(header + comp.table + "\n")
    plot_comparison_curves(comp.rows, out / "curves.png", title=f"{cfg.env_id}: validation accuracy")
    plot_intervals(comp.rows, out / "intervals.png", title=f"{cfg.env_id}: test accuracy, IQM and mean with 95% CIs")
    plot_pareto(comp.rows, out / "pareto.png", title=f"{cfg.env_id}: test accuracy against cost (mean, 95% CI)")
    plot_accuracy_vs_flops(comp.rows, out / "flops.png", title=f"{cfg.env_id}: test accuracy vs training FLOPs")
