"""Simic v4's reports (issue 36): what ``benchmarks/simic4.py`` writes beside its goal tables -- the compute each
replicate spent, what each critic learned in the report's terms, racing's agreement table, the confirmations'
descriptive lines and the index of every attempt (``benchmarks/results/simic4/goal.md``). Reading only: nothing
here plays an episode.

    python benchmarks/simic4_report.py    # rewrite the index (goal.md) from the goal tables already written
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from simic4_attempts import ATTEMPTS, CONFIRM, GOAL, LATEST, OUT, RACE, RACING_FAMILIES, RESULTS, Attempt, config

from esper_env.fileio import atomic_path
from esper_env.leyline import LAYOUT_CODEC
from lab.evaluation import GoalCheck, said


def racing_check(families: tuple[str, ...] = RACING_FAMILIES) -> tuple[list[str], GoalCheck]:
    """Item 3's target from the full branches of ``benchmarks/truncation.py`` (the ceiling plan's states; training
    seeds): racing from :data:`RACE` costs <= 50% of full branching and keeps >= 90% of the labels. Its agreement
    table per family and pooled."""
    from agents.simic.racing import agreement_table
    from agents.simic.truncation import BranchedState

    pooled, lines = [], ["| family | states (contested) | first rung | labels equal to full | contested equal | "
                         "cost vs full |", "|---|---|---|---|---|---|"]
    for fam in families:
        files = sorted((RESULTS / "truncation" / fam).glob("*.json"))
        states = [BranchedState.from_dict(d) for f in files for d in json.loads(f.read_text())["states"]]
        pooled += states
        for r in agreement_table(states, (2, RACE)) if states else ():
            lines.append(f"| {fam} ({len(files)} episodes) | {r.states} ({r.contested}) | {r.rung} | "
                         f"{100 * r.agree:.1f}% | {100 * r.agree_contested:.1f}% | {100 * r.cost:.0f}% |")
    (r,) = agreement_table(pooled, (RACE,))
    lines.append(f"| **pooled** | {r.states} ({r.contested}) | {r.rung} | **{100 * r.agree:.1f}%** | "
                 f"{100 * r.agree_contested:.1f}% | **{100 * r.cost:.0f}%** |")
    check = GoalCheck(f"racing from rung {RACE}: ≤ 50% of full branch epochs, ≥ 90% of labels equal (pooled event "
                      "families, training seeds)", r.cost <= 0.5 and r.agree >= 0.9,
                      f"{100 * r.cost:.0f}% of the epochs, {100 * r.agree:.1f}% equal ({r.states} states)")
    return lines, check


def spent(replicates: list[str], attempt: str = LATEST) -> tuple[list[str], dict]:
    """Each replicate's compute: labelled episodes, branch episode-equivalents, wall time (labelling + cloning)."""
    lines = ["| replicate | round | training seeds | episodes | branch epochs | episode-equivalents (episodes + "
             "branches) | labelling wall | cloning wall | critic: held-out agreement with branch labels / "
             "deviations / realised vs best branch (points) | clone's held-out agreement |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    total = dict(episode_equivalents=0.0, wall_s=0.0)
    for r in replicates:
        bases = list(ATTEMPTS[attempt].bases)
        runs = [(f"{r}-{b}" if b else r, config(r, attempt=attempt, base=b), i > 0) for i, b in enumerate(bases)]
        for name, cfg, other in runs + [(f"{r}-blind", config(r, blind=True, attempt=attempt), True)]:
            summary = json.loads((Path(cfg.out) / "iterate.json").read_text())
            for k, rd in sorted(summary["rounds"].items()):
                shared = other and k == "0"  # the other bases and the blind run reuse round 0's labels
                eq = 0.0 if shared else rd["episodes"] + rd["episode_equivalents"]
                wall = rd["bc_wall_s"] + (0.0 if shared else rd["label_wall_s"])
                total["episode_equivalents"] += eq
                total["wall_s"] += wall
                c = rd.get("critic", {}).get("held_out", {})
                lines.append(f"| {name} | {k} | {rd['seeds'][0]}-{rd['seeds'][-1]} | {rd['episodes']} | "
                             f"{'(shared)' if shared else rd['branch_epochs']} | {eq:.0f} | "
                             f"{0 if shared else rd['label_wall_s'] / 60:.1f} min | {rd['bc_wall_s'] / 60:.1f} min | "
                             f"{100 * c.get('agree', float('nan')):.0f}% / {c.get('deviations', 0)} of "
                             f"{c.get('states', 0)} / {c.get('realised', float('nan')):+.2f} vs "
                             f"{c.get('realised_branch', float('nan')):+.2f} | {100 * rd['held_out_agreement']:.1f}% |")
    return lines, total


POTENTIAL_BINS = ((-np.inf, -3.0), (-3.0, -1.0), (-1.0, np.inf))
"""What a culled seed's ``potential`` showed (points), as ``reactive-headroom/headroom.md`` reads it."""


def critic_story(replicate: str, attempt: str = LATEST) -> list[str]:
    """What a replicate's critic learned, in the report's terms: at every labelled CULL branch (focus "growing"), by
    what the culled seed's ``potential`` showed, the branches' mean advantage over the heuristic's own command and
    how often the critic's label was that cull (and what those culls realised on the training seeds, in sample).
    A table (markdown lines)."""
    from agents.simic.critic import branched_states
    from agents.simic.dataset import load
    from esper_env.leyline import Op, observation_fields
    from lab.compare.stats import mean_ci

    cfg = config(replicate, attempt=attempt)
    raw, labelled = load(cfg.labels(0)), load(cfg.critic_labels(0))
    where = {f: i for i, f in enumerate(observation_fields())}
    seen = []  # (potential in points, advantage in points, the critic's label is this cull)
    for seed, b in branched_states(raw):
        obs, own = raw.episodes[seed].obs[b["step"]], b["values"][str(b["own"])][0]
        label = int(labelled.episodes[seed].teacher[b["step"]])
        for a, v in b["values"].items():
            command = LAYOUT_CODEC.decode(int(a))
            if int(a) != b["own"] and command.op == Op.CULL:
                seen.append((10 * obs[where[f"slot{command.slot}_potential"]], 100 * (v[0] - own), label == int(a)))
    lines = ["| culled seed's potential (points) | CULL branches | CULL − own command (points) | the critic culls | "
             "what its culls realised (points, in sample) |", "|---|---|---|---|---|"]
    for low, high in POTENTIAL_BINS:
        here = [x for x in seen if low <= x[0] < high]
        culls = [adv for _, adv, cull in here if cull]
        name = f"< {high:g}" if low == -np.inf else f">= {low:g}" if high == np.inf else f"{low:g} to {high:g}"
        lines.append(f"| {name} | {len(here)} | {said(mean_ci([adv for _, adv, _ in here])) if len(here) > 1 else '-'}"
                     f" | {len(culls)} | {f'{np.mean(culls):+.2f}' if culls else '-'} |")
    return lines


def commands(records: list, op: str) -> float:
    """How many commands of kind ``op`` (GERMINATE, CULL, ...) a row gave per episode (nan: not recorded)."""
    given = [sum(a.startswith(op) for a in r.actions) for r in records if r.actions is not None]
    return float(np.mean(given)) if given else float("nan")


def first_evaluation(a: Attempt, setting: str) -> dict[str, list]:
    """The rows of an attempt's first evaluation of ``setting`` (its committed runs.jsonl; {} if not played)."""
    from lab.records import by_row, read_runs

    name = next((k for k, w in a.evaluations.items() if w.setting == setting), None)
    runs = a.out / "evaluate" / str(name) / "runs.jsonl"
    return by_row(read_runs(runs)) if name is not None and runs.is_file() else {}


def described(R: dict[str, list], simic: list[str], first: dict[str, list]) -> list[str]:
    """Descriptive lines under a confirmation's table (no check reads them): on how many seeds each clone's test
    accuracy equals the reactive heuristic's, and each clone − reactive pooled with the first evaluation's seeds."""
    from lab.compare import paired, test_points

    reactive = {r.seed: test_points(r) for r in R["reactive"]}
    lines = []
    for name in simic:
        same = paired(R, name, "reactive", test_points)
        equal = sum(test_points(r) == reactive.get(r.seed) for r in R[name])
        pooled = {k: [*R.get(k, []), *first.get(k, [])] for k in (name, "reactive")}
        both = paired(pooled, name, "reactive", test_points) if first.get(name) else None
        text = (f"- {name} scored exactly the reactive heuristic's test accuracy on {equal} of {len(R[name])} seeds "
                f"(mean difference {same[0]:+.2f})")
        if both:
            text += (f"; pooled with the first evaluation's {len(first[name])} seeds (descriptive only): {said(both)} "
                     f"over {len(pooled[name])} seeds")
        lines.append(text + ".")
    return lines


def write_index() -> Path:
    """``simic4/goal.md`` (:data:`GOAL`): issue 36's goal attempt by attempt, newest first -- each one's verdict on
    its own fresh seeds, its simic − reactive checks where seeds fail and its confirmation, read from the goal tables
    the evaluations wrote (an attempt not evaluated says so)."""
    verdict = re.compile(r"\*\*(?:Goal|Confirmation) (met|not met)\*\* \((\d+) of (\d+) checks\)")
    check = re.compile(r"^\| (faulty(?:-real)?: simic-\w) − reactive > 0[^|]* \| (?:yes|no) \| ([^|]+) \|$", re.M)
    lines = ["# Simic v4 (issue 36): the goal, attempt by attempt", "",
             "Written by `python benchmarks/simic4.py --stage evaluate` (and `--stage confirm`) from each attempt's "
             "goal table. Every attempt was evaluated on its own fresh seeds (`benchmarks/results/ledger.json`) and "
             "stays reported; a check is met when the lower end of its paired 95% interval clears the bar. The "
             "design and what each attempt changed: [docs/simic.md](../../../docs/simic.md).", "",
             "| attempt | fresh seeds where seeds fail (Fast's task) | goal checks met | simic − reactive where seeds "
             "fail (faulty, faulty-real), first evaluation | confirmation | goal table |", "|---|---|---|---|---|---|"]
    reactive = lambda t: "; ".join(f"{n.replace(': ', ' ')} {v.strip()}" for n, v in check.findall(t))  # noqa: E731
    for name, a in reversed(ATTEMPTS.items()):
        faulty = a.evaluations["faulty"].seeds
        if not a.goal.is_file():
            lines.append(f"| {name} | {faulty[0]}-{faulty[-1]} (not played) | not evaluated | | | "
                         f"[{a.out.relative_to(OUT) / 'README.md'}]({a.out.relative_to(OUT) / 'README.md'}) |")
            continue
        text, conf = a.goal.read_text(), a.out / "confirm" / "confirm.md"
        met = verdict.search(text)
        said_conf = ""
        if conf.is_file():
            ctext = conf.read_text()
            c = verdict.search(ctext)
            seeds = ", ".join(f"{x.where.setting} {x.where.seeds[0]}-{x.where.seeds[-1]}" for x in CONFIRM[name]
                              if (a.out / "confirm" / x.where.setting / "runs.jsonl").is_file())  # (played)
            said_conf = (f"{c.group(2)} of {c.group(3)} checks ({seeds}); where seeds fail {reactive(ctext)}: "
                         f"[{conf.relative_to(OUT)}]({conf.relative_to(OUT)})")
        lines.append(f"| {name} | {faulty[0]}-{faulty[-1]} | {met.group(2)} of {met.group(3)} | {reactive(text)} | "
                     f"{said_conf} | [{a.goal.relative_to(OUT)}]({a.goal.relative_to(OUT)}) |")
    racing = RESULTS / "truncation" / "racing.md"  # item 3's planned test, after the attempts' own rule
    found = re.search(r"^\*\*Racing target ([^*]+)\*\*(.*)$", racing.read_text(), re.M) if racing.is_file() else None
    if found:
        link = racing.relative_to(RESULTS)
        lines += ["", f"Racing labels (item 3), the rule fixed in advance and tested on fresh states: "
                  f"**{found.group(1)}**{found.group(2)} [{link}](../{link})"]
    items = {"retest": "item 3", "draws": "items 1 and 3", "critic": "item 1"}
    for name, item in items.items():  # labels valued on data orders they were not read on
        path = RESULTS / "truncation" / f"{name}.md"
        found = re.search(r"^\*\*(Retest|Draws|Critic)\*\*: (.*)$", path.read_text(), re.M) if path.is_file() else None
        if found:
            link = path.relative_to(RESULTS)
            lines += ["", f"{found.group(1)} ({item}): {found.group(2)} [{link}](../{link})"]
    ppo = OUT / "ppo" / "result.md"  # item 2's improvement stage: MaskablePPO from attempt 4's clones
    found = re.search(r"\*\*PPO's improvement (met|not met)\*\* \((\d+) of (\d+) checks\)",
                      ppo.read_text()) if ppo.is_file() else None
    if found:
        lines += ["", f"Clone, then improve (item 2): MaskablePPO fine-tuning of attempt 4's clones on fresh seeds, "
                  f"**{found.group(1)}** ({found.group(2)} of {found.group(3)} checks): "
                  f"[{ppo.relative_to(OUT)}]({ppo.relative_to(OUT)})"]
    with atomic_path(GOAL, suffix=".md") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return GOAL


def main(argv: list[str] | None = None) -> None:
    import argparse
    import os

    from simic4_attempts import ROOT

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    os.chdir(ROOT)
    print(write_index().read_text())


if __name__ == "__main__":
    main()
