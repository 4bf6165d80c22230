"""Simic v4 (issue 36): a learned Tamiyo that reads the report where it pays and keeps the plan where it does not.

    python benchmarks/simic4.py --stage train       # 3 replicates of the whole pipeline (+ each one's blind ablation)
    python benchmarks/simic4.py --stage validate    # picks on validation seeds 900-919 (validation accuracy)
    python benchmarks/simic4.py --stage evaluate    # fresh evaluation seeds (claimed), goal.md
    python benchmarks/simic4.py                     # all three; every stage resumes
    python benchmarks/simic4.py --attempt 4 --stage confirm  # its picks on a larger fresh sample fixed in advance
    python benchmarks/simic4.py --attempt 1 ...     # an earlier attempt, as it ran (:data:`ATTEMPTS`)

Each attempt (:data:`ATTEMPTS`: data, in ``simic4_attempts.py``) has its own training seeds and its own fresh
evaluation seeds; every attempt stays reported (``benchmarks/results/simic4/goal.md`` indexes them:
``attempt1-goal.md`` is attempt 1's goal table, ``attempt2/goal.md`` attempt 2's, ...). Attempt 2 changes what
attempt 1's diagnosis named: its episodes and branches are played by the reactive heuristic (rollouts that regrow
after a cull), it labels more episodes, and each replicate is cloned residual to the plan *and* residual to the
reactive heuristic (:data:`REACTIVE_BASE`) from the same labels; validation picks.

Attempt 1's pipeline (one replicate; each replicate labels its own training seeds):

1. **Where it learns**: ``Esper-Mixed-v0`` with ``tasks="faulty-fast"`` -- Fast's task as it is (stationary) and the
   same task whose seeds fail with a hidden probability, half and half: the one hidden-event family whose headroom
   was measured (issue 35) beside its stationary twin, so one policy must learn where reading the report pays and
   where it does not.
2. **The plan it is residual to**: the Fast ceiling plan (two conv_residual seeds, at epochs 0 and 3; the best
   static plan on stationary Fast) with ADVANCE rules for seeds it does not name. A residual clone plays the plan
   unless its logits overrule it by :data:`BONUS`: untrained, it *is* the plan.
3. **Labels a report can predict**: ``esper iterate --race 4 --critic`` -- at every other epoch and every non-WAIT
   command, the candidate commands race (successive halving, :mod:`agents.simic.racing`; the own command's branch
   is the episode itself), and a critic fitted across every branched state of every seed (:mod:`agents.simic.critic`)
   labels each state with the candidate whose *predicted* advantage over the own command is above
   :data:`CRITIC_MARGIN` points: what states like this one reward on average, not one seed's noise.
4. **Clone, then improve**: round 0 clones the critic's labels of the plan's states; round 1 (DAgger) labels the
   clone's own states with branches the clone plays and clones every round's labels. Validation picks the round.
5. **The blind ablation**: the same labels, critic and clone with the observation masked to ``progress`` and
   ``budget_left``: it must fall to a plan.

Evaluation on fresh seeds (each attempt's ``evaluations``), beside no-growth, the heuristic, the reactive heuristic,
the best static plan of each setting (picked on validation seeds among no growth, the ceiling plan and one early
seed) and, on the faulty families, the reveal oracle (privileged: lab/oracles.py); the goal checks go to ``goal.md``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from simic4_attempts import (
    ATTEMPTS,
    BLIND,
    BONUS,
    CONFIRM,
    CRITIC_MARGIN,
    GOAL,
    LARGER_BONUS,
    LATEST,
    OUT,
    PLAN,
    POOLED,
    RACE,
    RACING_FAMILIES,
    RESULTS,
    ROOT,
    SHIPPED,
    VALIDATION,
    Attempt,
    Where,
)

from agents.simic.iterate import IterateConfig, iterate
from esper_env.fileio import atomic_path
from esper_env.leyline import LAYOUT_CODEC
from lab.evaluation import GoalCheck, said
from lab.options import parse_args


def config(replicate: str, blind: bool = False, attempt: str = LATEST, base: str | None = None) -> IterateConfig:
    """One replicate's pipeline with one residual base (default: the attempt's first, whose run labels); its blind
    ablation: one round on the same labels, residual to the plan, critic and clone masked."""
    a = ATTEMPTS[attempt]
    base = next(iter(a.bases)) if base is None else base
    env_id, overrides = a.train
    return IterateConfig(env_id, dict(overrides), rounds=1 if blind else a.rounds, episodes=a.episodes,
                         first_seed=a.replicates[replicate], start=a.start, rollout="policy",
                         objective="val", max_germinate=a.max_germinate, concurrent=True, stride=2, race=RACE,
                         focus=a.focus, critic=True, critic_form=a.critic_form, critic_hidden=a.critic_hidden,
                         critic_margin=CRITIC_MARGIN, critic_margins=a.critic_margins,
                         observe=BLIND if blind else a.observe,
                         residual=PLAN if blind else a.bases[base], residual_bonus=BONUS,
                         out=a.out / f"{replicate}-blind" if blind else a.folder(replicate, base), workers=2)


def share_labels(src: IterateConfig, dst: IterateConfig) -> None:
    """Give ``dst`` round 0's labels of ``src`` (they do not depend on the learner, so the other bases and the blind
    ablation clone the same labels: labelled once)."""
    if not dst.labels(0).is_file():
        dst.labels(0).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.labels(0), dst.labels(0))


def train(replicates: list[str], attempt: str = LATEST) -> None:
    for r in replicates:
        t0 = time.perf_counter()
        first = config(r, attempt=attempt)
        iterate(first)
        for base in list(ATTEMPTS[attempt].bases)[1:]:
            other = config(r, attempt=attempt, base=base)
            share_labels(first, other)
            iterate(other)
        blind = config(r, blind=True, attempt=attempt)
        share_labels(first, blind)
        iterate(blind)
        print(f"replicate {r}: {time.perf_counter() - t0:.0f} s", flush=True)


def with_bonus(src: Path, bonus: float) -> Path:
    """A copy of residual policy ``src`` played with another head start (``policy-bonus<b>.zip`` beside it)."""
    import zipfile

    from agents.residual import RESIDUAL_ENTRY, read_residual, residual_entry

    dst = Path(src).with_name(f"policy-bonus{bonus:g}.zip")
    if not dst.is_file():
        plan, _, observe = read_residual(src)
        with atomic_path(dst, suffix=".zip") as tmp, zipfile.ZipFile(src) as zin, \
                zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename == RESIDUAL_ENTRY:
                    data = json.dumps(residual_entry(plan, bonus, observe)).encode()
                zout.writestr(item, data)
    return dst


def policies(replicate: str, attempt: str = LATEST) -> dict[str, Path]:
    """A replicate's candidate clones by name: each base's and round's (attempt 1: and the last one with
    :data:`LARGER_BONUS`)."""
    a, out = ATTEMPTS[attempt], {}
    for base in a.bases:
        cfg = config(replicate, attempt=attempt, base=base)
        name = f"{replicate}-{base}" if base else replicate
        out.update({f"{name}-round{k}": cfg.policy(k) for k in range(a.rounds)})
        last = cfg.policy(a.rounds - 1)
        if a.larger_bonus and last.is_file():
            out[f"{name}-round{a.rounds - 1}-bonus{LARGER_BONUS:g}"] = with_bonus(last, LARGER_BONUS)
    return out


def candidates(replicate: str, attempt: str = LATEST) -> dict[str, str]:
    """A replicate's candidate clones, as compare rows."""
    return {name: f"{name}=policy:{path}" for name, path in policies(replicate, attempt).items()}


def validate(replicates: list[str], workers: int, attempt: str = LATEST) -> dict:
    """Pick each replicate's round on validation seeds of the training distribution, the shipped replicate, and the
    best static plan of every setting whose best static plan is not known yet."""
    from lab.compare import CompareConfig, run_comparison
    from lab.compare.stats import pick
    from lab.evaluation import setting, training_overrides

    a, picks = ATTEMPTS[attempt], {}
    s = setting("faulty-fast")
    rows = {name: row for r in replicates for name, row in candidates(r, attempt).items()}
    comp = run_comparison(CompareConfig(s.env_id, training_overrides("faulty-fast"), rows=tuple(rows.values()),
                                        seeds=VALIDATION, scratch=False, workers=workers,
                                        out=a.out / "validation/clones",
                                        command=f"python benchmarks/simic4.py --attempt {attempt} --stage validate"))
    means = {}
    for r in replicates:
        best, m = pick(comp.rows, list(candidates(r, attempt)))
        picks[r] = best
        means.update(m)
    shipped, _ = pick(comp.rows, list(picks.values()))
    if attempt == LATEST:  # what `make demo` and the README play
        every = {n: p for r in replicates for n, p in policies(r, attempt).items()}
        shutil.copyfile(every[shipped], SHIPPED)
    statics = {}
    for name, w in a.evaluations.items():
        if w.best_static is not None:
            statics[name] = w.best_static
            continue
        ws = setting(w.setting)
        c = run_comparison(CompareConfig(ws.env_id, training_overrides(w.setting), rows=tuple(w.static.values()),
                                         seeds=w.validation, scratch=False, workers=workers,
                                         out=a.out / f"validation/{name}-static",
                                         command=f"python benchmarks/simic4.py --attempt {attempt} --stage validate"))
        statics[name], static_means = pick(c.rows, list(w.static))
        means.update({f"{name}:{k}": v for k, v in static_means.items()})
    out = dict(rounds=picks, shipped=shipped, best_static=statics, validation_means=means,
               validation_seeds=[VALIDATION[0], VALIDATION[-1]])
    with atomic_path(a.out / "picks.json", suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1) + "\n")
    return out


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


def reference_rows(w: Where, best: str) -> list[str]:
    """The rows of a setting that do not depend on training: no growth, both heuristics, the best static plan
    (``best``) and, where the event is hidden, the reveal oracle."""
    rows = ["no-growth", "heuristic", "reactive"] + ([] if best == "no-growth" else [static_row(w, best)])
    return rows + ([w.reveal] if w.reveal else [])


def static_row(w: Where, best: str) -> str:
    """The best static plan ``best`` of a setting as a compare row: ``no-growth`` itself, else named ``best-static``."""
    return "no-growth" if best == "no-growth" else w.static[best].replace(best, "best-static", 1)


def play_references(settings: list[str], workers: int, allow_dirty: bool, attempt: str = LATEST,
                    trained: tuple[str, ...] = ()) -> None:
    """Claim and play the rows that do not depend on training (:func:`reference_rows`) on the fresh seeds, into the
    evaluation's own folders, so ``--stage evaluate`` plays only the learned rows (its cache holds these): they can
    run while replicates train. ``trained``: replicates already trained, whose candidate clones (and blind ablation,
    where it plays) play too -- validation picks among them later, and ``--stage evaluate`` finds them cached.
    Needs every setting's best static plan known in advance (:class:`Where`)."""
    from lab.evaluation import Evaluation

    a = ATTEMPTS[attempt]
    for where in settings:
        w = a.evaluations[where]
        if w.best_static is None:
            raise ValueError(f"{where}: the best static plan is picked on validation seeds: run --stage validate "
                             "first")
        learned = [f"{n}=policy:{p}" for r in trained for n, p in policies(r, attempt).items()]
        learned += [f"blind-{r}=policy:{config(r, blind=True, attempt=attempt).policy(0)}" for r in trained
                    if w.blind]
        Evaluation("simic4", attempt, w.setting, w.seeds, tuple(reference_rows(w, w.best_static) + learned),
                   a.out / "evaluate" / where, f"python benchmarks/simic4.py --attempt {attempt} --stage references",
                   workers=workers, allow_dirty=allow_dirty).run()


def evaluate(replicates: list[str], settings: list[str], workers: int, allow_dirty: bool,
             shipped_only: tuple[str, ...] = (), attempt: str = LATEST) -> str:
    """Every setting on its fresh seeds (claimed), the goal checks, ``goal.md``; on the settings in ``shipped_only``
    only the shipped replicate plays (when compute is short: the goal table says which checks that leaves out)."""
    from lab.compare import paired, test_points
    from lab.evaluation import Evaluation, flops_ratio, said, setting, write_goal

    a = ATTEMPTS[attempt]
    picks = json.loads((a.out / "picks.json").read_text())
    simic = {f"simic-{r}": f"simic-{r}=policy:{policies(r, attempt)[picks['rounds'][r]]}" for r in replicates}
    blind = {f"blind-{r}": f"blind-{r}=policy:{config(r, blind=True, attempt=attempt).policy(0)}" for r in replicates}
    command = f"python benchmarks/simic4.py --attempt {attempt} --stage evaluate"
    checks, body, comps = [], [], {}
    for where in settings:
        w = a.evaluations[where]
        best = picks["best_static"][where]
        static = "no-growth" if best == "no-growth" else "best-static"
        rows = reference_rows(w, best)
        shipped = f"simic-{picks['shipped'].split('-')[0]}"
        playing = {n: r for n, r in simic.items() if where not in shipped_only or n == shipped}
        rows += list(playing.values()) + (list(blind.values()) if w.blind else [])
        if where in a.unpicked_on:  # the clones validation did not pick, for the record (no goal checks)
            rows += [f"{b}-{r}=policy:{p}" for r in replicates for b in a.bases
                     for n, p in policies(r, attempt).items() if n.startswith(f"{r}-{b}-") and n != picks["rounds"][r]]
        comp = Evaluation("simic4", attempt, w.setting, w.seeds, tuple(rows), a.out / "evaluate" / where, command,
                          workers=workers, allow_dirty=allow_dirty).run()
        R = comps[where] = comp.rows
        mean = {row: float(np.mean([test_points(r) for r in rs])) for row, rs in R.items()}
        body += [f"## {setting(w.setting).doc} (`{setting(w.setting).ledger_env}`, seeds {w.seeds[0]}-{w.seeds[-1]})",
                 "", f"Best static plan: `{best}`.", "",
                 "| row | test acc. % | − best static | − reactive | − heuristic | return − best static | FLOPs × "
                 "bare | germinations / culls an episode |",
                 "|---|---|---|---|---|---|---|---|"]
        ret = lambda r: 100 * r.episode_return  # noqa: E731
        for row in R:
            body.append(f"| {row} | {mean[row]:.2f} | {said(paired(R, row, static, test_points))} | "
                        f"{said(paired(R, row, 'reactive', test_points))} | "
                        f"{said(paired(R, row, 'heuristic', test_points))} | {said(paired(R, row, static, ret))} | "
                        f"{flops_ratio(R, row):.2f}× | {commands(R[row], 'GERMINATE'):.2f} / "
                        f"{commands(R[row], 'CULL'):.2f} |")
        body.append("")
        for name in playing:
            d = paired(R, name, "heuristic", test_points)
            checks.append(GoalCheck(f"{where}: {name} − heuristic > 0", d[1] > 0, said(d)))
        for name in set(simic) - set(playing):
            checks.append(GoalCheck(f"{where}: {name} − heuristic > 0", False, "not played (compute: only the "
                                    "shipped replicate played here)"))
        if w.headroom:
            reveal = paired(R, "reveal", static, test_points)
            for name in playing:
                d = paired(R, name, static, test_points)
                checks.append(GoalCheck(f"{where}: {name} − best static > 0", d[1] > 0, said(d)))
                e = paired(R, name, "reactive", test_points)
                checks.append(GoalCheck(f"{where}: {name} − reactive > 0", e[1] > 0, said(e)))
                captured = f"{d[0]:+.2f} of {reveal[0]:+.2f} ({100 * d[0] / reveal[0]:.0f}%)"
                checks.append(GoalCheck(f"{where}: {name} captures ≥ 50% of reveal − best static",
                                        d[0] >= 0.5 * reveal[0], captured))
        elif where in ("fast", "subset", "cheap"):
            for name in playing:
                gap = mean[name] - mean[static]
                checks.append(GoalCheck(f"{where} (stationary): {name} ≥ best static − 0.3 (mean)", gap >= -0.3,
                                        f"{gap:+.2f} (paired {said(paired(R, name, static, test_points))})"))
        if w.blind:
            for name in blind:
                d = paired(R, name, static, test_points)
                checks.append(GoalCheck(f"{where}: {name} not above best static", not d[1] > 0, said(d)))
    if all(w in comps for w in POOLED):  # the mixed distribution: its two families' seeds together
        pooled = {row: [r for w in POOLED for r in comps[w][row]] for row in comps[POOLED[0]]
                  if all(row in comps[w] for w in POOLED)}
        best = {w: "no-growth" if picks["best_static"][w] == "no-growth" else "best-static" for w in POOLED}
        pooled["per-family best static"] = [r for w in POOLED for r in comps[w][best[w]]]
        key = lambda r: (r.env_id, r.seed)  # noqa: E731
        body += [f"## The training distribution: {' and '.join(POOLED)} pooled ({len(pooled['no-growth'])} seeds, "
                 "half each)", "", "| row | test acc. % | − per-family best static | − reactive | − heuristic |",
                 "|---|---|---|---|---|"]
        for row, rs in pooled.items():
            body.append(f"| {row} | {np.mean([test_points(r) for r in rs]):.2f} | "
                        + " | ".join(said(paired(pooled, row, b, test_points, key)) for b in
                                     ("per-family best static", "reactive", "heuristic")) + " |")
        body.append("")
        for name in simic:
            d = paired(pooled, name, "heuristic", test_points, key)
            checks.append(GoalCheck(f"mixed (pooled): {name} − heuristic > 0", d[1] > 0, said(d)))
    for where in (w for w in a.evaluations if w not in settings):  # a goal table says what it did not check
        checks.append(GoalCheck(f"{where}: every check", False, "not played (compute: the evaluation ran on "
                                f"{', '.join(settings)} only)"))
    racing_lines, racing = racing_check()
    checks.append(racing)
    cost_lines, total = spent(replicates, attempt)
    if a.focus == "growing":  # what each critic learned, in the report's terms
        for r in replicates:
            cost_lines += ["", f"What replicate {r}'s critic learned from its CULL branches (training seeds):", "",
                           *critic_story(r, attempt)]
    header = ["# Simic v4: a learned Tamiyo that reads the report (issue 36)", "",
              f"Command: `{command}` (after `--stage train` and `--stage validate`). Trained on `{a.train[0]}` "
              + "".join(f"`{k}=\"{v}\"` " for k, v in a.train[1].items())
              + f"(training seeds {min(a.replicates.values())}+), {a.summary}; racing labels "
              f"from rung {RACE}, "
              + ("" if a.critic_margins else f"critic margin {CRITIC_MARGIN} points, ")
              + f"{a.rounds} round(s) of {a.episodes} episodes; "
              f"picked on validation accuracy of seeds {VALIDATION[0]}-"
              f"{VALIDATION[-1]}: rounds {picks['rounds']}, shipped `{picks['shipped']}`. Fresh evaluation seeds "
              f"claimed in the ledger as simic4 attempt {attempt}. Test accuracy in points, paired 95% intervals; "
              "return = the env's (validation points net of rent, x100). `reveal` is privileged (told the event: a "
              "bound).", "",
              f"Compute of the {len(replicates)} replicates: {total['episode_equivalents']:.0f} episode-equivalents, "
              f"{total['wall_s'] / 60:.0f} min wall on 2 workers (labelling) and one core (cloning).", "",
              *cost_lines, "", "## Racing labels: agreement with full rollouts (item 3)", "", *racing_lines, "",
              *body]
    text = write_goal(a.goal, header, checks, "Goal (issue 36)")
    write_index()
    return text


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


def confirm(replicates: list[str], workers: int, allow_dirty: bool, attempt: str = LATEST) -> str:
    """Play an attempt's picks on its confirmatory seeds (:data:`CONFIRM`) beside the setting's best static plan,
    the reactive heuristic and (where seeds fail) the reveal oracle; the checks go to ``confirm/confirm.md``."""
    from lab.compare import paired, test_points
    from lab.compare.plan import split_row
    from lab.evaluation import Evaluation, write_goal

    if attempt not in CONFIRM:
        raise ValueError(f"attempt {attempt} has no confirmatory evaluation (attempts with one: {sorted(CONFIRM)})")
    a = ATTEMPTS[attempt]
    picks = json.loads((a.out / "picks.json").read_text())
    simic = [f"simic-{r}=policy:{policies(r, attempt)[picks['rounds'][r]]}" for r in replicates]
    command = f"python benchmarks/simic4.py --attempt {attempt} --stage confirm"
    ret = lambda r: 100 * r.episode_return  # noqa: E731
    body, checks = [], []
    for c in CONFIRM[attempt]:
        w = c.where
        static = "no-growth" if w.best_static == "no-growth" else "best-static"
        bound = split_row(w.reveal)[0] if w.reveal else None  # the privileged row's name
        rows = [*([static_row(w, w.best_static)] if c.static else []), "reactive", *([w.reveal] if w.reveal else []),
                *simic]
        R = Evaluation("simic4", attempt, w.setting, w.seeds, tuple(rows), a.out / "confirm" / w.setting, command,
                       workers=workers, allow_dirty=allow_dirty).run().rows
        versus = [("reactive", test_points), *([(static, test_points)] if c.static else []), ("reactive", ret)]
        body += [f"## {c.question} (`{w.setting}`, {len(w.seeds)} seeds {w.seeds[0]}-{w.seeds[-1]}; plan: "
                 f"[{c.plan.name}]({c.plan.name}))", "",
                 "| row | test acc. % | − reactive | " + (f"− {static} | " if c.static else "")
                 + "return − reactive |", "|---|---|---|" + ("---|" if c.static else "") + "---|"]
        for row, rs in R.items():
            body.append(f"| {row} | {np.mean([test_points(r) for r in rs]):.2f} | "
                        + " | ".join(said(paired(R, row, b, m)) for b, m in versus) + " |")
        body += ["", *described(R, [f"simic-{r}" for r in replicates], first_evaluation(a, w.setting)), ""]
        for r in replicates:
            d = paired(R, f"simic-{r}", "reactive", test_points)
            primary = " (the shipped pick: the primary test)" if picks["shipped"].startswith(f"{r}-") else ""
            checks.append(GoalCheck(f"{w.setting}: simic-{r} − reactive > 0{primary}", d[1] > 0, said(d)))
        if bound:
            room = paired(R, bound, "reactive", test_points)
            checks.append(GoalCheck(f"{w.setting}: room above the reactive heuristic, {bound} − reactive > 0",
                                    room[1] > 0, said(room)))
        elif c.static:  # stationary: the plan kept
            for r in replicates:
                d = paired(R, f"simic-{r}", static, test_points)
                checks.append(GoalCheck(f"{w.setting} (stationary): simic-{r} ≥ best static − 0.3 (mean)",
                                        d[0] >= -0.3, f"{d[0]:+.2f} (paired {said(d)})"))
    header = [f"# Simic v4 attempt {attempt}: confirmatory evaluations", "",
              f"Command: `{command}`. The picks of `picks.json` (shipped `{picks['shipped']}`), unchanged, on fresh "
              f"seeds claimed in the ledger as simic4 attempt {attempt} (more seeds of the same attempt); each "
              "sample's size, rows and analysis were fixed in advance in its plan. Test accuracy in points, paired "
              "95% intervals; `reveal` and `reactive-reveal` are privileged (told which seeds fail: the room a reader "
              "of the report has above the reactive heuristic).", "", *body]
    text = write_goal(a.out / "confirm" / "confirm.md", header, checks, "Confirmatory checks", "Confirmation")
    write_index()
    return text


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


@dataclass
class Args:
    stage: tuple[str, ...] = field(default=("train", "validate", "evaluate"),
                                   metadata={"choices": ["references", "train", "validate", "evaluate",
                                                          "confirm"]})
    """Which stages to run (in order; "references": play the rows that do not depend on training on the fresh
    seeds first, e.g. beside training; "confirm": an attempt's picks on its confirmatory seeds, :data:`CONFIRM`)."""
    attempt: str = field(default=LATEST, metadata={"choices": list(ATTEMPTS)})
    """Which attempt (each has its own training and fresh evaluation seeds: :data:`ATTEMPTS`)."""
    replicate: tuple[str, ...] = ("a", "b", "c")
    """Which replicates of the whole pipeline."""
    trained: tuple[str, ...] = ()
    """references stage: replicates already trained whose clones play with the references."""
    where: tuple[str, ...] = ()
    """Which evaluation settings (evaluate stage; default: every one of the attempt's)."""
    shipped_only: tuple[str, ...] = ()
    """Settings where only the shipped replicate plays (when compute is short; goal.md says so)."""
    workers: int = 2
    """Worker processes for validation and evaluation."""
    allow_dirty: bool = False
    """Evaluate although tracked files have uncommitted changes."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    os.chdir(ROOT)
    replicates = list(args.replicate)
    if "references" in args.stage:
        play_references(list(args.where or ATTEMPTS[args.attempt].evaluations), args.workers, args.allow_dirty,
                        args.attempt, tuple(args.trained))
    if "train" in args.stage:
        train(replicates, args.attempt)
    if "validate" in args.stage:
        print(json.dumps(validate(replicates, args.workers, args.attempt), indent=1))
    if "evaluate" in args.stage:
        where = list(args.where or ATTEMPTS[args.attempt].evaluations)
        print(evaluate(replicates, where, args.workers, args.allow_dirty, tuple(args.shipped_only), args.attempt))
    if "confirm" in args.stage:
        print(confirm(replicates, args.workers, args.allow_dirty, args.attempt))


if __name__ == "__main__":
    main()
