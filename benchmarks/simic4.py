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
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from simic4_attempts import (
    ATTEMPTS,
    CONFIRM,
    CRITIC_MARGIN,
    LARGER_BONUS,
    LATEST,
    POOLED,
    RACE,
    ROOT,
    SHIPPED,
    VALIDATION,
    Where,
    config,
)
from simic4_report import commands, critic_story, described, first_evaluation, racing_check, spent, write_index

from agents.simic.iterate import IterateConfig, iterate
from esper_env.fileio import atomic_path
from lab.evaluation import GoalCheck, said
from lab.options import parse_args


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
