"""Critic labels against one draw's branch labels, valued on a data order neither was read on (issue 36, item 1).

    python benchmarks/truncation.py --target faulty-growing faulty-growing-retest   # the branches (two data orders)
    python benchmarks/critic_retest.py                                              # critic.md from them

Simic v4 attempt 4's critics (a critic of a seed's own report, fitted on each replicate's CULL branches) are refitted
exactly as they ran, from each replicate's committed labels and config (checked: they relabel those files as
committed), and label the fresh states of ``faulty-growing`` from the observation kept there. Draw A's branch label
is the best of the own command and the culls on the episode's own data order; every label is valued on draw B (the
same states, a redrawn data order). The plan: ``benchmarks/results/truncation/critic-plan.md``. Reading only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from racing_report import OUT, episode_means, read_states

from agents.simic.critic import CriticConfig, fit, relabel, rows
from agents.simic.dataset import load
from esper_env.fileio import atomic_path
from esper_env.leyline import LAYOUT_CODEC
from lab.compare.stats import fmt_ci, mean_ci

ROOT = Path(__file__).resolve().parents[1]
ATTEMPT = ROOT / "benchmarks/results/simic4/attempt4"
REPLICATES = ("a", "b", "c")
SHIPPED = "b"
"""The shipped replicate: the primary comparison (critic-plan.md)."""
TARGETS = ("faulty-growing", "faulty-growing-retest")


def round0(replicate: str) -> Path:
    return ATTEMPT / f"{replicate}-reactive" / "round0"


def saved_config(replicate: str) -> CriticConfig:
    """The critic config replicate ``replicate`` ran with (margin: the one its cross-validation picked)."""
    return CriticConfig.from_json(json.loads((round0(replicate) / "critic-labels.critic.json").read_text())["config"])


def critic_of(replicate: str):
    """Attempt 4's critic of ``replicate``, refitted from its round-0 labels and config; (critic, margin). Refuses a
    refit that does not relabel the committed file as it was relabelled."""
    cfg, folder = saved_config(replicate), round0(replicate)
    labels = load(folder / "labels.npz")
    critic = fit(rows([labels], cfg.objective), len(LAYOUT_CODEC.commands), cfg)
    again, committed = relabel(labels, critic, cfg.margin), load(folder / "critic-labels.npz")
    if any((again.episodes[s].teacher != committed.episodes[s].teacher).any() for s in committed.episodes):
        raise RuntimeError(f"replicate {replicate}: the refitted critic does not relabel {folder / 'labels.npz'} as "
                           "committed: the critic code changed since attempt 4")
    return critic, cfg.margin


def pooled_critic():
    """A critic with attempt 4's config fitted on every replicate's round-0 labels together, its margin picked by the
    same cross-validation over their training seeds (critic-plan.md's addendum); (critic, margin)."""
    from dataclasses import replace

    from agents.simic.critic import pick_margin, scored_states

    cfg = saved_config(REPLICATES[0])
    demos = [load(round0(r) / "labels.npz") for r in REPLICATES]
    data, n = rows(demos, cfg.objective), len(LAYOUT_CODEC.commands)
    margin, _ = pick_margin(scored_states(demos, cfg.objective), data, n, cfg)
    return fit(data, n, replace(cfg, margin=margin)), margin


def critic_labels(critic, margin: float, states: list) -> list[int]:
    """The critic's label at each state, from the observation kept there (inf margin: the own command)."""
    return [critic.label(np.asarray(s.obs, np.float32), s.own, [b.action for b in s.branches], margin)
            for s in states]


@dataclass(frozen=True)
class Label:
    name: str
    actions: list[int]


def report(out: Path = OUT / "critic.md") -> str | None:
    a_states, b_states = (read_states(t) for t in TARGETS)
    if not b_states:
        return None
    if [(s.seed, s.epoch, s.own) for s in a_states] != [(s.seed, s.epoch, s.own) for s in b_states]:
        raise ValueError(f"{TARGETS[0]} and {TARGETS[1]} hold different states: branch every seed of both")
    episodes = [s.seed for s in a_states]
    labels = [Label("draw A's branch label (margin 0)", [s.label() for s in a_states])]
    for r in REPLICATES:
        critic, margin = critic_of(r)
        labels.append(Label(f"critic {r} (margin {margin:g}){' (shipped)' if r == SHIPPED else ''}",
                            critic_labels(critic, margin, a_states)))
    critic, margin = pooled_critic()
    labels.append(Label(f"critic of a, b and c's labels pooled (margin {margin:g}; addendum)",
                        critic_labels(critic, margin, a_states)))

    def on(states, label):  # points over the own command
        return [100 * (s.value(x) - s.value(s.own)) for s, x in zip(states, label.actions)]

    ci = lambda xs: fmt_ci(*mean_ci(episode_means(episodes, xs)), signed=True)  # noqa: E731
    base = on(b_states, labels[0])
    lines = ["# Critic labels against one draw's branch labels, on a data order neither was read on (issue 36, "
             "item 1)", "",
             f"Command: `python benchmarks/critic_retest.py` (after `python benchmarks/truncation.py --target "
             f"{' '.join(TARGETS)}`; plan: [critic-plan.md](critic-plan.md)). `Esper-Faulty-v0`, fresh training seeds "
             f"{min(episodes)}-{max(episodes)} ({len(set(episodes))} episodes) played by the reactive heuristic; at "
             f"every state where a seed grows ({len(a_states)} states) the own command and the CULL of each growing "
             "seed branched to the end on draw A (the episode's data order) and draw B (redrawn). Attempt 4's critics "
             "refitted as they ran (each relabels its committed labels exactly). Values: final validation accuracy, "
             "points, minus the own command's; per-episode means, Student-t 95% over the episodes.", "",
             "| label | deviates from the own command | on draw B: − own | − draw A's branch label (on B) | "
             "on draw A: − own | on A and B averaged: − own |", "|---|---|---|---|---|---|"]
    verdict, branch_dev = "", sum(x != s.own for s, x in zip(a_states, labels[0].actions))
    for label in labels:
        dev = sum(x != s.own for s, x in zip(a_states, label.actions))
        on_b = on(b_states, label)
        diff = [x - y for x, y in zip(on_b, base)]
        mean_ab = [(x + y) / 2 for x, y in zip(on(a_states, label), on_b)]
        lines.append(f"| {label.name} | {dev} of {len(a_states)} | {ci(on_b)} | "
                     f"{'—' if label is labels[0] else ci(diff)} | {ci(on(a_states, label))}"
                     f"{' (in sample)' if label is labels[0] else ''} | {ci(mean_ab)} |")
        if f"critic {SHIPPED} " in label.name:
            low, high = mean_ci(episode_means(episodes, diff))[1:]
            worth = "worth more" if low > 0 else "worth less" if high < 0 else "neither worth more nor less, measurably"
            verdict = (f"**Critic**: on a data order neither was read on, the shipped critic's labels are worth "
                       f"{ci(diff)} points a state against one draw's branch labels ({worth}), deviating from the "
                       f"reactive heuristic at {dev} of {len(a_states)} states against {branch_dev}.")
    shipped = next(label for label in labels if f"critic {SHIPPED} " in label.name)
    pooled = labels[-1]
    lead = [x - y for x, y in zip(on(b_states, pooled), on(b_states, shipped))]
    addendum = (f"Addendum (a lead, decided after the rows above): the pooled critic − the shipped critic, on draw B: "
                f"{ci(lead)} points a state.")
    text = "\n".join([*lines, "", verdict, "", addendum, ""])
    with atomic_path(out, suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    text = report()
    print(text if text else f"no branches of {TARGETS[1]} yet: run `python benchmarks/truncation.py --target "
          f"{' '.join(TARGETS)}` first")


if __name__ == "__main__":
    main()
