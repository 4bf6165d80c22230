"""Racing labels against full ones (issue 36, items 1 and 3), read from the branched states ``truncation.py`` saved:
the racing rule fixed in advance on fresh states (``racing.md``), the same states on a second data order
(``retest.md``: does the full label repeat, and what is a raced label worth there?) and on a third (``draws.md``:
labels from one or two orders, valued on another). Reading only: nothing here plays an episode.

    python benchmarks/racing_report.py    # rewrite racing.md, retest.md and draws.md from the committed states
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from agents.simic.racing import agreement_table as racing_agreement
from agents.simic.racing import race_label, retest
from agents.simic.truncation import BranchedState, mean_of_draws
from esper_env.fileio import atomic_path
from lab.compare.stats import fmt_ci, mean_ci

OUT = Path(__file__).resolve().parents[1] / "benchmarks/results/truncation"
"""Where ``truncation.py`` saves each target's branched states (``<target>/<seed>.json``)."""


@dataclass(frozen=True)
class RacingTest:
    """A racing rule fixed in advance (``plan``, committed before the ``test`` states were played) and tested on
    fresh states against issue 36's target: <= 50% of full branching's epochs, >= 90% of labels equal to full."""

    rung: int
    gap: float | None
    picked_on: tuple[str, ...]
    """The targets the rule was picked on (every state of them seen)."""
    test: tuple[str, ...]
    """The targets it is tested on: fresh training seeds, played after the plan."""
    reference: tuple[int, float | None]
    """The rule Simic v4's attempts raced with until then (rung, gap), read on the same states."""
    plan: Path


RACING_TEST = RacingTest(2, 0.02, ("faulty", "stream", "shift", "faulty-heldout", "stream-heldout", "shift-heldout"),
                         ("faulty-fresh", "stream-fresh", "shift-fresh"), (4, None), OUT / "racing-plan.md")
"""Racing by the leader's gap (first rung 2 epochs; drop what is > 2 points behind the leading alternative), picked
on the 140 states of the six event-family targets; tested on the fresh targets (racing-plan.md)."""


def read_states(name: str) -> list[BranchedState]:
    """Every branched state ``truncation.py`` saved for target ``name``, seed by seed ([] before it played)."""
    return [BranchedState.from_dict(d) for f in sorted((OUT / name).glob("*.json"))
            for d in json.loads(f.read_text())["states"]]


def racing_test(t: RacingTest = RACING_TEST) -> str:
    """``racing.md``: the planned rule and the earlier one on every target of the test, pooled; the target's check on
    the fresh states (the picked-on states for reference). Returns the text."""
    said = lambda rung, gap: f"first rung {rung}, " + ("the worse half dropped" if gap is None  # noqa: E731
                                                        else f"> {100 * gap:g} points behind the leader dropped")
    lines = ["# Racing labels: the planned rule on fresh states (issue 36, item 3)", "",
             f"Command: `python benchmarks/truncation.py --target {' '.join(t.test)}` (states on fresh training seeds; "
             f"the plan: [{t.plan.name}]({t.plan.name})). Rule under test: {said(t.rung, t.gap)}; the earlier rule: "
             f"{said(*t.reference)}. Full labels: every candidate played to the end (the rollout's own command "
             "free when racing). Value lost: the full label's final validation accuracy minus the raced label's, "
             "points, mean over the states.", "",
             "| states | targets | rule | states (contested) | labels equal to full | contested equal | cost vs full | "
             "value lost (points) |", "|---|---|---|---|---|---|---|---|"]
    pooled = {}
    for group, names in (("picked on", t.picked_on), ("fresh (the test)", t.test)):
        by_name = {n: read_states(n) for n in names}  # each target's states read once
        by_name[f"**{group}, pooled**"] = pooled[group] = [s for n in names for s in by_name[n]]
        for rung, gap in ((t.rung, t.gap), t.reference):
            for name, st in by_name.items():
                if not st:
                    continue
                (r,) = racing_agreement(st, (rung,), gap=gap)
                lines.append(f"| {group} | {name} | {said(rung, gap)} | {r.states} ({r.contested}) | "
                             f"{100 * r.agree:.1f}% | {100 * r.agree_contested:.1f}% | {100 * r.cost:.0f}% | "
                             f"{100 * r.lost:.2f} |")
    fresh = pooled["fresh (the test)"]
    if fresh:
        (r,) = racing_agreement(fresh, (t.rung,), gap=t.gap)
        met = "met" if r.cost <= 0.5 and r.agree >= 0.9 else "not met"
        verdict = (f"**Racing target {met}** on the fresh states (≤ 50% of full branch epochs, ≥ 90% of labels "
                   f"equal): {100 * r.cost:.0f}% of the epochs, {100 * r.agree:.1f}% equal ({r.states} states).")
    else:
        verdict = "**Racing target not played yet** (no fresh states)."
    text = "\n".join([*lines, "", verdict, ""])
    with atomic_path(OUT / "racing.md", suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return text


RETEST = (("faulty-fresh", "faulty-retest"), ("stream-fresh", "stream-retest"), ("shift-fresh", "shift-retest"))
"""The racing test's fresh states and the same states branched again on another data order (retest-plan.md)."""


def episode_means(episodes: list, values) -> list[float]:
    """Per-episode means of per-state ``values`` (``episodes``: each state's episode key): the states of one episode
    are not independent, so intervals are taken over episodes."""
    groups: dict[object, list[float]] = {}
    for e, v in zip(episodes, values):
        groups.setdefault(e, []).append(float(v))
    return [sum(g) / len(g) for g in groups.values()]


def retest_report(t: RacingTest = RACING_TEST) -> str | None:
    """``retest.md``: do the full labels of the racing test repeat on another data order, and are racing's labels
    worth less than the full ones when both are valued on it? Returns the text (None before the retest played)."""

    pairs = [(f, r, read_states(f), read_states(r)) for f, r in RETEST]
    pairs = [p for p in pairs if p[3]]
    if not pairs:
        return None
    ci = lambda xs: fmt_ci(*(100 * v for v in mean_ci(xs)), signed=True)  # noqa: E731
    share = lambda xs: "{:.1f}% [{:.1f}, {:.1f}]".format(*(100 * v for v in mean_ci(xs)))  # noqa: E731
    lines = ["# Racing labels, retested: does the full label repeat on another data order? (issue 36, item 3)", "",
             "Command: `python benchmarks/truncation.py --target " + " ".join(r for _, r, _, _ in pairs) + "` (plan: "
             "[retest-plan.md](retest-plan.md)). The racing test's fresh states ([racing.md](racing.md)), every "
             "candidate branched to the end again with the training data order (and augmentation) after the branch "
             "point drawn anew; weights, events and the episode itself unchanged. Labels are read on the first data "
             f"order (full branches; racing: first rung {t.rung}, > {100 * t.gap:g} points behind the leader dropped) "
             "and valued on the second: final validation accuracy, points, minus the rollout's own command's. "
             "Intervals: Student-t over episodes (the per-episode mean of the states), 95%.", "",
             "| family | states (contested) | episodes | full label repeats | raced label = the retest's full | "
             "raced = full (same order: the racing test) | on the retest: full label − own | raced label − own | "
             "raced − full | the retest's own best − own (in sample) |", "|---|---|---|---|---|---|---|---|---|---|"]
    pooled, verdict = ([], [], []), ""
    for first_name, _, first, second in pairs + [("**pooled**", None, None, None)]:
        if first is None:
            first, second, episodes = pooled
        else:  # an episode is a target's seed (stream and shift share seeds)
            episodes = [(first_name, s.seed) for s in first]
            for into, what in zip(pooled, (first, second, episodes)):
                into.extend(what)
        r = retest(first, second, t.rung, t.gap)
        by_episode = partial(episode_means, episodes)
        repeats = by_episode([f == g for f, g in zip(r.full, r.again)])
        lost = by_episode([x - f for x, f in zip(r.raced_value, r.full_value)])
        lines.append(
            f"| {first_name.replace('-fresh', '')} | {r.states} ({r.contested}) | {len(set(episodes))} | "
            f"{share(repeats)} | {share(by_episode([x == g for x, g in zip(r.raced, r.again)]))} | "
            f"{share(by_episode([x == f for x, f in zip(r.raced, r.full)]))} | "
            f"{ci(by_episode(r.full_value))} | {ci(by_episode(r.raced_value))} | {ci(lost)} | "
            f"{ci(by_episode(r.best_value))} |")
        if first_name == "**pooled**":  # the plan's reading: as good if > -0.25 points, worse if < 0
            low, high = mean_ci(lost)[1:]
            worth = "as good as full ones" if low > -0.0025 else "worse" if high < 0 else "undecided"
            verdict = (f"**Retest**: the full label repeats on {share(repeats)} of the {r.states} states on another "
                       f"data order; there racing's labels are worth {ci(lost)} points against the full label's "
                       f"(racing's labels {worth}).")
    (again_row,) = racing_agreement(pooled[1], (t.rung,), gap=t.gap)
    lines += ["", f"The racing test replayed on the retest's own branches (a second draw of the same states): "
              f"{100 * again_row.agree:.1f}% of labels equal to full at {100 * again_row.cost:.0f}% of the epochs "
              f"({again_row.states} states, {again_row.contested} contested; the first draw: racing.md).", "",
              verdict, ""]
    text = "\n".join(lines)
    with atomic_path(OUT / "retest.md", suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return text


DRAWS = tuple((f"{f}-fresh", f"{f}-retest", f"{f}-retest2") for f in ("faulty", "stream", "shift"))
"""Three data orders of the racing test's fresh states: labels read on the first one or two, valued on the third."""


def draws_report(t: RacingTest = RACING_TEST) -> str | None:
    """``draws.md``: at equal labelling cost, is racing on two data orders (the branches' curves averaged) worth more
    than one full draw? And averaging two full draws? Labels read on draws A and B, valued on draw C. Returns the
    text (None before the third draw played)."""

    sets = [(names, [read_states(n) for n in names]) for names in DRAWS]
    sets = [(names, d) for names, d in sets if d[2]]
    if not sets:
        return None
    episodes, a_states, b_states, c_states = [], [], [], []
    for names, (a, b, c) in sets:
        if not len(a) == len(b) == len(c):
            raise ValueError(f"{names}: the draws hold {len(a)}, {len(b)}, {len(c)} states: branch every seed of each")
        episodes += [(names[0], s.seed) for s in a]
        a_states += a
        b_states += b
        c_states += c
    labels: dict[str, tuple[list[int], list]] = {}  # name: (label per state, (its branch epochs, one full draw's))
    for a, b in zip(a_states, b_states):
        ab = mean_of_draws([a, b])
        own = next(x.epochs for x in a.branches if x.action == a.own)
        one = a.epochs()
        raced_a, cost_a = race_label(a, t.rung, gap=t.gap)
        raced_ab, alt = race_label(ab, t.rung, gap=t.gap)
        for name, label, cost in (("full, draw A", a.label(), one - own), ("raced, draw A", raced_a, cost_a),
                                  ("raced, draws A and B averaged", raced_ab, 2 * alt + own),
                                  ("full, draws A and B averaged", ab.label(), 2 * one - own)):
            labels.setdefault(name, ([], []))[0].append(label)
            labels[name][1].append((cost, one))
    on_c = {n: [100 * (c.value(x) - c.value(c.own)) for c, x in zip(c_states, ls)] for n, (ls, _) in labels.items()}
    c_full = [c.label() for c in c_states]
    by_episode = partial(episode_means, episodes)
    said_ci = lambda xs: fmt_ci(*mean_ci(by_episode(xs)), signed=True)  # noqa: E731
    lines = ["# Labels from one or two data orders, valued on a third (issue 36, items 1 and 3)", "",
             "Command: `python benchmarks/truncation.py --target " + " ".join(n[2] for n, _ in sets) + "` (plan: "
             "[draws-plan.md](draws-plan.md)). The racing test's fresh states, branched on three data orders: A (the "
             "episode's own: `*-fresh`), B (`*-retest`), C (`*-retest2`). Each label is read on A or on A and B "
             "(their curves averaged epoch by epoch) and valued on C: final validation accuracy, points, minus the "
             "rollout's own command's. Cost: branch epochs per state against one full draw of every candidate "
             f"(the own command free on A, where the episode plays it). Racing: first rung {t.rung}, > "
             f"{100 * t.gap:g} points behind the leader dropped. Intervals: Student-t over the {len(set(episodes))} "
             "episodes (per-episode means), 95%.", "",
             "| label | cost vs one full draw | equal to C's full label | on C: − own command | − full, draw A |",
             "|---|---|---|---|---|"]
    base = on_c["full, draw A"]
    cost_of = {name: sum(c for c, _ in costs) / sum(o for _, o in costs) for name, (_, costs) in labels.items()}
    for name, (ls, _) in labels.items():
        versus = "—" if name == "full, draw A" else said_ci([x - y for x, y in zip(on_c[name], base)])
        same = sum(x == y for x, y in zip(ls, c_full)) / len(ls)
        lines.append(f"| {name} | {100 * cost_of[name]:.0f}% | {100 * same:.1f}% | {said_ci(on_c[name])} | "
                     f"{versus} |")
    best = [100 * (c.value(x) - c.value(c.own)) for c, x in zip(c_states, c_full)]
    averaged = [x - y for x, y in zip(on_c["full, draws A and B averaged"], base)]
    raced_two = [x - y for x, y in zip(on_c["raced, draws A and B averaged"], base)]
    low, high = mean_ci(by_episode(averaged))[1:]
    pays = "pays" if low > 0 else "does not pay" if high < 0.25 else "undecided"  # the plan's reading
    lines += ["", f"C's own full label, in sample there (a bound, not a label): {said_ci(best)} points over the own "
              f"command; {len(c_states)} states.", "",
              f"**Draws**: on a third data order, the full label of two orders averaged is worth {said_ci(averaged)} "
              f"points against one order's (averaging {pays}, at "
              f"{cost_of['full, draws A and B averaged'] / cost_of['full, draw A']:.1f}x its branch epochs); racing "
              f"on the two orders ({cost_of['raced, draws A and B averaged'] / cost_of['full, draw A']:.1f}x) "
              f"{said_ci(raced_two)}.",
              ""]
    text = "\n".join(lines)
    with atomic_path(OUT / "draws.md", suffix=".md") as tmp:
        Path(tmp).write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    for report in (racing_test(), retest_report(), draws_report()):
        if report:
            print(report)


if __name__ == "__main__":
    main()
