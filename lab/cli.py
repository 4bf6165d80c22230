"""``esper``: the command line. A thin layer: it parses arguments, calls ``agents``, and prints.

Each command's options are generated from its config dataclass (:mod:`lab.options`): the dataclass holds
every setting's default, help text and checks, and scripts that build the same config get the same errors.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from .options import add_env, add_options, add_quiet, config_from, env_overrides, parse_setting


def build_parser() -> argparse.ArgumentParser:
    import esper_env
    from agents.simic import BCConfig, CollectConfig, PPOConfig
    from agents.simic.branch import ImproveConfig
    from agents.simic.iterate import IterateConfig

    from .compare import CompareConfig
    from .run import RunConfig
    from .tune import TuneConfig

    p = argparse.ArgumentParser(prog="esper", description="Morphogenetic training as a Gymnasium environment.")
    p.add_argument("--version", action="version", version=f"esper {esper_env.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run one episode with one controller and print a per-epoch log")
    add_env(run, RunConfig.env_id)
    add_options(run, RunConfig, ("agent", "seed", "plot", "json", "checkpoint", "resume", "trust_policy_file"),
                metavars={"plot": "PNG", "json": "FILE", "checkpoint": "FILE"})
    add_quiet(run, "no per-epoch lines, only the summary")

    cmp = sub.add_parser("compare", help="run controllers on several seeds, paired; print a table with 95%% CIs")
    add_env(cmp, CompareConfig.env_id)
    add_options(cmp, CompareConfig, ("rows", "seeds", "scratch", "twins", "flops_matched", "out", "workers",
                                     "executor"),
                flags={"rows": "--agents"}, metavars={"rows": "AGENT", "flops_matched": "ROW", "twins": "ROW"})
    add_quiet(cmp)

    col = sub.add_parser("collect", help="record labelled demonstrations (heuristic + exploration) for Simic")
    add_env(col, CollectConfig.env_id)
    add_options(col, CollectConfig, ("teacher", "explore", "out", "workers", "executor"), flags={"teacher": "--agent"})
    col.add_argument("--episodes", type=int, default=100, help="episodes to collect, seeds from 1000 up (default 100)")
    col.add_argument("--seeds", nargs="+", type=int, default=None, metavar="N",
                     help="explicit episode seeds instead of --episodes (keep them >= 1000: evaluation uses "
                          "seeds below)")
    add_quiet(col)

    imp = sub.add_parser("improve", help="Simic v2: label visited states with the best branch from a snapshot "
                                         "(improved teacher; DAgger with --behaviour policy:PATH.zip)")
    add_env(imp, ImproveConfig.env_id)
    add_options(imp, ImproveConfig, ("seeds", "behaviour", "rollout", "objective", "max_germinate", "concurrent",
                                     "stride", "margin", "race", "race_gap", "focus", "out", "workers", "executor"))
    add_quiet(imp)

    itr = sub.add_parser("iterate", help="policy iteration: label, clone, label the clone's own states with branches "
                                         "it plays (DAgger), clone again; resumable")
    add_env(itr, IterateConfig.env_id)
    add_options(itr, IterateConfig, ("rounds", "episodes", "first_seed", "start", "rollout", "objective",
                                     "max_germinate", "concurrent", "stride", "margin", "race", "race_gap", "focus",
                                     "critic",
                                     "critic_margin", "critic_margins", "critic_form", "critic_hidden", "observe",
                                     "residual", "bc_epochs", "bc_seed",
                                     "out", "workers", "executor"))
    add_quiet(itr)

    bc = sub.add_parser("bc", help="behaviour cloning: train a MaskablePPO policy on demonstrations")
    add_options(bc, BCConfig, ("data", "also", "out", "epochs", "entropy_coef", "sharpen_entropy", "seed",
                               "holdout_every", "batch_size", "lr", "net_arch", "class_weight_power", "vf_coef",
                               "gamma", "residual", "residual_bonus", "observe"),
                metavars={"sharpen_entropy": "NATS", "residual": "PLAN.json"})
    add_quiet(bc)

    twn = sub.add_parser("twin", help="write the plan a controller played most often (a comparison row) as a "
                                      "static schedule: its static twin")
    twn.add_argument("--runs", required=True, type=Path, help="a runs.jsonl written by esper compare")
    twn.add_argument("--row", required=True, help="the row whose plan to copy (its name in the table)")
    twn.add_argument("--out", required=True, type=Path, help="the schedule file to write (.json)")
    twn.add_argument("--tasks", metavar="NAME", help="Esper-Mixed-v0 episodes: the task distribution they were drawn "
                     "from (synthetic, cheap); the twin is one plan per task family")

    tun = sub.add_parser("tune", help="search static schedules (optuna TPE) on training seeds; write the best")
    add_env(tun, TuneConfig.env_id)
    add_options(tun, TuneConfig, ("trials", "seeds", "max_seeds", "enqueue", "out", "workers", "executor",
                                  "parallel_trials", "seed"),
                metavars={"enqueue": "SCHEDULE.json"})
    add_quiet(tun)

    ppo = sub.add_parser("ppo", help="fine-tune a policy with MaskablePPO (TensorBoard, checkpoints, --resume)")
    add_env(ppo, PPOConfig.env_id)
    add_options(ppo, PPOConfig, ("init", "timesteps", "out", "n_envs"))
    ppo.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    ppo.add_argument("--ppo", dest="ppo_args", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                     help="override any other PPOConfig field, e.g. --ppo learning_rate=3e-5 (repeatable)")
    add_quiet(ppo)

    return p


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .checkpoint import unfinished
    from .run import RunConfig, run

    cfg = config_from(args, RunConfig, overrides=env_overrides(args))  # run() checks it before any work
    bar = None

    def start(env, agent):
        nonlocal bar
        total, done = env.unwrapped.max_epochs, unfinished(cfg.checkpoint)
        print(f"{cfg.env_id} | agent {agent.name} | seed {cfg.seed} | {total} epochs | "
              f"device {env.unwrapped.device} ({env.unwrapped.precision})")
        if done is not None:
            print(f"continuing the episode saved in {cfg.checkpoint} after epoch {done}")
        bar = tqdm(total=total, initial=done or 0, unit="epoch", leave=False, file=sys.stderr, disable=args.quiet)

    def log(step):
        bar.update(1)
        if args.quiet:
            return
        r = step.report
        stages = " ".join(f"{s.stage.name[:5].lower()}{f'({s.alpha:.2f})' if 0 < s.alpha < 1 else ''}"
                          for s in r.slots)
        bar.write(f"epoch {r.epoch:3d}  train {100 * r.train_accuracy:5.1f}%  val {100 * r.val_accuracy:5.1f}%  "
                  f"[{stages}]  {step.command:<34} {step.reason}")

    try:
        _, _, record = run(cfg, on_start=start, on_step=log)
    finally:
        if bar is not None:
            bar.close()
    o = record.outcome
    print(f"final: test {100 * o.test_accuracy:.2f}%  val {100 * o.val_accuracy:.2f}%  "
          f"params {o.total_params:,} (+{o.added_params:,})  FLOPs/image {o.flops_per_image:,}  "
          f"train FLOPs {o.train_flops:.3g}  return {record.episode_return:+.4f}")
    live = {s.slot: f"{s.blueprint} ({s.stage.name.lower()}, alpha {s.alpha:.2f})" for s in o.live_seeds}
    print(f"seeds: germinated {o.seeds_germinated}, fossilized {o.seeds_fossilized}, culled "
          f"{o.seeds_culled}; fossilized: {dict(o.architecture) or 'none'}; still live: {live or 'none'}")
    if cfg.plot:
        from .plots import plot_episode
        print(f"plot: {plot_episode(record, cfg.plot)}")
    if cfg.json:
        print(f"result: {cfg.json}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import CompareConfig, run_comparison

    cfg = config_from(args, CompareConfig, overrides=env_overrides(args),
                      command=" ".join(["esper", *map(shlex.quote, sys.argv[1:])]))
    comp = run_comparison(cfg, progress=not args.quiet)
    print(comp.table)
    print(f"outputs: {cfg.out}/table.md, runs.jsonl, curves.png, flops.png")
    return 1 if comp.failed else 0


def cmd_collect(args: argparse.Namespace) -> int:
    from agents.seeds import TRAINING_START
    from agents.simic import CollectConfig, collect

    if args.seeds is None and args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    seeds = tuple(args.seeds) if args.seeds else tuple(range(TRAINING_START, TRAINING_START + args.episodes))
    cfg = config_from(args, CollectConfig, overrides=env_overrides(args), seeds=seeds)
    demos = collect(cfg, progress=not args.quiet)
    a = demos.arrays()
    print(f"{len(demos.episodes)} episodes, {len(a['action'])} steps ({(a['action'] != a['teacher']).mean():.1%} "
          f"explored); teacher's mean return {a['episode_return'].mean():+.4f} -> {args.out}")
    if demos.failed:
        print(f"esper: {len(demos.failed)} episode(s) failed (their worker process died): seeds "
              f"{', '.join(map(str, demos.failed))}; rerun the same command to try them again", file=sys.stderr)
        return 1
    return 0


def cmd_improve(args: argparse.Namespace) -> int:
    from agents.simic.branch import ImproveConfig, improve

    cfg = config_from(args, ImproveConfig, overrides=env_overrides(args))
    demos = improve(cfg, progress=not args.quiet)
    a = demos.arrays()
    budget = demos.meta["budget"].values()
    epochs = sum(b["epochs"] for b in budget)
    steps = len(a["action"])
    print(f"{len(demos.episodes)} episodes, {steps} steps: {sum(b['states'] for b in budget)} states branched, "
          f"{sum(b['branches'] for b in budget)} branches, {epochs} branch epochs; "
          f"{sum(b['relabelled'] for b in budget) / max(steps, 1):.1%} of steps labelled other than the rollout's "
          f"command, {(a['teacher'] != a['action']).mean():.1%} other than played -> {args.out}")
    if demos.failed:
        print(f"esper: {len(demos.failed)} episode(s) failed: seeds {', '.join(map(str, demos.failed))}; rerun the "
              "same command to try them again", file=sys.stderr)
        return 1
    return 0


def cmd_iterate(args: argparse.Namespace) -> int:
    from agents.simic.iterate import IterateConfig, iterate

    cfg = config_from(args, IterateConfig, overrides=env_overrides(args))
    summary = iterate(cfg, progress=not args.quiet)
    for k, r in sorted(summary["rounds"].items(), key=lambda kv: int(kv[0])):
        print(f"round {k}: {r['behaviour']} played {r['episodes']} episodes (seeds {r['seeds'][0]}-{r['seeds'][-1]}), "
              f"branches played by {r['rollout']}: {r['branch_epochs']} branch epochs ({r['episode_equivalents']} "
              f"episode-equivalents), {r['label_wall_s']:.0f} s; clone {r['policy']} agrees with held-out labels "
              f"{r['held_out_agreement']:.1%}")
    print(f"summary: {cfg.out}/iterate.json")
    return 0


def cmd_bc(args: argparse.Namespace) -> int:
    from agents.simic import BCConfig, behaviour_clone

    cfg = config_from(args, BCConfig)
    _, held, report = behaviour_clone(cfg, progress=not args.quiet)
    t = report.train
    print(f"trained on {report.train_episodes} episodes (accuracy {t.accuracy:.1%}, balanced "
          f"{t.balanced_accuracy:.1%}); held out {report.held_out_episodes} episodes:")
    for line in held.lines():
        print("  " + line)
    e = report.entropy
    if e.sharpened is not None:
        print(f"policy entropy {e.fitted:.3f} -> {e.sharpened:.3f} nats (logits x{e.logit_scale:.2f})")
    else:
        print(f"policy entropy {e.fitted:.3f} nats")
    print(f"policy: {args.out} (report: {args.out.removesuffix('.zip')}.json)")
    return 0


def cmd_twin(args: argparse.Namespace) -> int:

    import esper_env
    from esper_env.fileio import check_output_file
    from esper_env.tasks import TASK_DISTRIBUTIONS, task_distribution

    from .records import read_runs
    from .twin import modal_plan, twin_of, twin_schedule

    check_output_file(args.out, "--out")
    if not args.runs.is_file():
        raise FileNotFoundError(f"--runs {args.runs}: not found (relative to {Path.cwd()}); "
                                f"give a runs.jsonl written by esper compare")
    records = read_runs(args.runs)
    rows = sorted({r.row for r in records if r.row})
    mine = [r for r in records if r.row == args.row]
    if not mine:
        raise ValueError(f"--row {args.row}: no such row in {args.runs}; its rows: {', '.join(rows)}")
    mixed = any(esper_env.is_drawn(r.env_id) for r in mine)
    if mixed and not args.tasks:
        raise ValueError(f"--row {args.row}: its episodes draw a task per seed; give --tasks NAME, the task "
                         f"distribution they were drawn from ({', '.join(TASK_DISTRIBUTIONS)})")
    if mixed:
        schedule, said = twin_of(mine, task_distribution(args.tasks))
    else:
        plan, played = modal_plan(mine)
        budget = int(played[0].config["max_epochs"])
        schedule = twin_schedule(plan, budget)
        said = f"played in {len(played)} of {len(mine)} episodes (seeds {', '.join(str(r.seed) for r in played)}): " \
            + plan.describe(budget)
    schedule.save(args.out)
    print(f"{args.row}: its most common plan, {said}")
    print(f"schedule: {args.out} (play it: --agents twin=schedule:{args.out})")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .tune import TuneConfig, tune

    cfg = config_from(args, TuneConfig, overrides=env_overrides(args))
    cfg.check()
    n = len(cfg.seeds)
    print(f"budget: {cfg.trials} trials x {n} seeds = {cfg.trials * n} episodes of {cfg.env_id}")
    best, score = tune(cfg, progress=not args.quiet)
    print(f"best: mean validation accuracy {100 * score:.2f}% over seeds {list(cfg.seeds)}: "
          + ("; ".join(f"{s.blueprint} at slot {s.slot}, {s.at:.2f} of the budget, {s.train_epochs} TRAINING "
                       "epochs" for s in best.seeds) or "no growth"))
    print(f"schedule: {cfg.out}/best.json (play it: --agent schedule:{cfg.out}/best.json); "
          f"trace: {cfg.out}/trace.jsonl")
    return 0


def cmd_ppo(args: argparse.Namespace) -> int:
    import dataclasses

    from agents.simic import PPOConfig, train_ppo

    fields = {f.name for f in dataclasses.fields(PPOConfig)}
    extra = dict(args.ppo_args)
    unknown = sorted(set(extra) - fields)
    if unknown:
        raise ValueError(f"unknown --ppo setting(s) {', '.join(unknown)}; the settings are {', '.join(sorted(fields))}")
    cfg = config_from(args, PPOConfig, overrides=env_overrides(args), **extra)
    if not args.resume and not Path(cfg.init).is_file():
        raise ValueError(f"--init {cfg.init}: no policy there; give the `esper bc` output (--init POLICY.zip), "
                         "or --resume to continue --out")
    try:
        train_ppo(cfg, resume=args.resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"esper: interrupted; checkpoint saved in {args.out} (continue with --resume)", file=sys.stderr)
        return 130
    print(f"policy: {args.out}/final.zip; curves: {args.out}/curves.png; "
          f"TensorBoard: tensorboard --logdir {args.out}/tensorboard")
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM takes Ctrl-C's path: finished work and checkpoints are saved


def main(argv: list[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        commands = {"run": cmd_run, "compare": cmd_compare, "collect": cmd_collect, "bc": cmd_bc, "tune": cmd_tune,
                    "ppo": cmd_ppo, "improve": cmd_improve, "iterate": cmd_iterate,
                    "twin": cmd_twin}
        return commands[args.command](args)
    except (ValueError, FileNotFoundError, RuntimeError) as e:  # incl. DatasetError: one clear line
        print(f"esper: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("esper: interrupted (finished work is saved; rerun the same command to continue)", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
