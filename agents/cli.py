"""``esper``: the command line. A thin layer: it parses arguments, calls ``agents``, and prints."""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import signal
import sys
from pathlib import Path


def _env_arg(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a plain string such as dataset=cifar10


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(p: Path, base: Path, flag: str) -> None:
    base = _nearest_existing(base)
    if not base.is_dir():
        raise ValueError(f"{flag} {p}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK):
        raise ValueError(f"{flag} {p}: {base} is not writable; choose another location")


def check_output_file(path: str | None, flag: str, formats: tuple[str, ...] | None = None) -> None:
    """Refuse, before any work, an output file that is a folder, in a folder that cannot be written, or
    (``formats``) whose extension is not one of those that can be written."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {p} is a folder; give a file name inside it")
    _check_writable(p, p.parent if str(p.parent) else Path("."), flag)
    if formats is not None and p.suffix.lower().lstrip(".") not in formats:
        raise ValueError(f"{flag} {p}: cannot write a {p.suffix or 'extension-less'} file; use one of "
                         + ", ".join("." + f for f in formats))


def check_output_dir(path: str | None, flag: str) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be written."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {p} is a file; give a folder")
    _check_writable(p, p, flag)


def plot_formats() -> tuple[str, ...]:
    """File extensions matplotlib can write here."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(FigureCanvasBase.get_supported_filetypes())


def build_parser() -> argparse.ArgumentParser:
    import esper_env

    p = argparse.ArgumentParser(prog="esper", description="Morphogenetic training as a Gymnasium environment.")
    p.add_argument("--version", action="version", version=f"esper {esper_env.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run one episode with one controller and print a per-epoch log")
    run.add_argument("--agent", default="heuristic",
                     help="heuristic | no-growth | fixed | random | policy:PATH.zip (default: heuristic)")
    run.add_argument("--env", default="Esper-Synthetic-v0", help=f"one of {', '.join(esper_env.ENV_IDS)}")
    run.add_argument("--seed", type=int, default=0, help="episode seed (default 0)")
    run.add_argument("--data-root", default=None, help="folder holding cifar-10-batches-py (or $ESPER_DATA_DIR)")
    run.add_argument("--set", dest="env_args", type=_env_arg, action="append", default=[], metavar="KEY=VALUE",
                     help="override an env constructor argument, e.g. --set max_epochs=10 (repeatable)")
    run.add_argument("--plot", default=None, metavar="PNG", help="save the accuracy curve with lifecycle events")
    run.add_argument("--quiet", action="store_true", help="no per-epoch lines, only the summary")
    run.add_argument("--json", default=None, metavar="FILE",
                     help="write the result (outcome, config, version, machine, date) as JSON")
    run.add_argument("--checkpoint", default=None, metavar="FILE",
                     help="save the episode's state after every epoch (env snapshot + record so far)")
    run.add_argument("--trust-policy-file", action="store_true",
                     help="allow a policy file that can only be loaded by unpickling (it could run code)")
    run.add_argument("--resume", action="store_true",
                     help="continue the episode saved in --checkpoint (same agent, env, settings and seed)")

    cmp = sub.add_parser("compare", help="run controllers on several seeds, paired; print a table with 95%% CIs")
    cmp.add_argument("--env", default="Esper-Synthetic-v0", help=f"one of {', '.join(esper_env.ENV_IDS)}")
    cmp.add_argument("--agents", nargs="+", default=["no-growth", "fixed", "heuristic", "random"], metavar="AGENT",
                     help="rows: heuristic | no-growth | fixed | random | policy:PATH.zip, each optionally NAME=ROW "
                          "(e.g. ppo=policy:runs/ppo/final.zip; default: all built-ins)")
    cmp.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="N",
                     help="evaluation seeds, paired across rows (default 0 1 2; policies train on seeds >= 1000)")
    cmp.add_argument("--no-scratch", action="store_true",
                     help="skip the rows that train each growing controller's final architecture from scratch")
    cmp.add_argument("--workers", type=int, default=1, help="worker processes, one torch thread each (default 1)")
    cmp.add_argument("--executor", choices=["process", "ray"], default="process",
                     help="local worker processes, or a Ray cluster ($RAY_ADDRESS, else a local one)")
    cmp.add_argument("--out", default="runs/compare", help="output folder; finished runs there are reused")
    cmp.add_argument("--data-root", default=None, help="folder holding cifar-10-batches-py (or $ESPER_DATA_DIR)")
    cmp.add_argument("--set", dest="env_args", type=_env_arg, action="append", default=[], metavar="KEY=VALUE",
                     help="override an env setting for every run (repeatable)")
    cmp.add_argument("--quiet", action="store_true", help="no progress bar")

    col = sub.add_parser("collect", help="record labelled demonstrations (heuristic + exploration) for Simic")
    col.add_argument("--agent", default="heuristic", help="the teacher: a built-in rule controller (default heuristic)")
    col.add_argument("--env", default="Esper-Fast-v0", help=f"one of {', '.join(esper_env.ENV_IDS)}")
    col.add_argument("--episodes", type=int, default=100, help="episodes to collect (default 100)")
    col.add_argument("--seeds", nargs="+", type=int, default=None, metavar="N",
                     help="explicit episode seeds (default: --episodes seeds from 1000 up)")
    col.add_argument("--explore", type=float, default=0.2,
                     help="fraction of steps that execute a random other legal command (default 0.2)")
    col.add_argument("--out", default="runs/demos.npz", help="the file; an existing one is continued")
    col.add_argument("--workers", type=int, default=1, help="worker processes, one torch thread each")
    col.add_argument("--set", dest="env_args", type=_env_arg, action="append", default=[], metavar="KEY=VALUE",
                     help="override an env setting for every episode (repeatable)")
    col.add_argument("--quiet", action="store_true", help="no progress bar")

    bc = sub.add_parser("bc", help="behaviour cloning: train a MaskablePPO policy on demonstrations")
    bc.add_argument("--data", required=True, help="demonstration file from `esper collect`")
    bc.add_argument("--out", default="runs/bc.zip", help="the policy zip to write (default runs/bc.zip)")
    bc.add_argument("--epochs", type=int, default=300, help="passes over the training steps (default 300)")
    bc.add_argument("--entropy-coef", type=float, default=0.0,
                    help="entropy bonus: keeps probability on other legal commands (benchmarks/simic.py uses 1.0)")
    bc.add_argument("--sharpen-entropy", type=float, default=None, metavar="NATS",
                    help="after fitting, scale the logits (same most likely commands) down to this mean entropy, "
                         "so PPO starts nearly deterministic (benchmarks/simic.py uses 0.1)")
    bc.add_argument("--seed", type=int, default=0)
    bc.add_argument("--quiet", action="store_true", help="no progress bar")

    ppo = sub.add_parser("ppo", help="fine-tune a policy with MaskablePPO (TensorBoard, checkpoints, --resume)")
    ppo.add_argument("--init", default=None, help="the policy to start from (`esper bc` output)")
    ppo.add_argument("--env", default="Esper-Fast-v0", help=f"one of {', '.join(esper_env.ENV_IDS)}")
    ppo.add_argument("--timesteps", type=int, default=2400, help="env steps (epochs) over all envs (default 2400)")
    ppo.add_argument("--out", default="runs/ppo", help="run folder (checkpoint.zip, final.zip, tensorboard/)")
    ppo.add_argument("--n-envs", type=int, default=2, help="parallel training envs (default 2)")
    ppo.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    ppo.add_argument("--set", dest="env_args", type=_env_arg, action="append", default=[], metavar="KEY=VALUE",
                     help="override an env setting (repeatable)")
    ppo.add_argument("--ppo", dest="ppo_args", type=_env_arg, action="append", default=[], metavar="KEY=VALUE",
                     help="override a PPOConfig field, e.g. --ppo learning_rate=3e-5 (repeatable)")
    ppo.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    import json

    import gymnasium as gym
    from tqdm import tqdm

    from esper_env.fileio import atomic_path

    from . import make_agent, run_episode
    from .checkpoint import resume_episode, save_checkpoint
    from .records import episode_result

    if args.resume and not args.checkpoint:
        raise ValueError("--resume needs --checkpoint FILE (the file the interrupted run was saving)")
    check_output_file(args.json, "--json")
    check_output_file(args.checkpoint, "--checkpoint")
    check_output_file(args.plot, "--plot", plot_formats())
    import esper_env

    kwargs = dict(args.env_args)
    if args.data_root:
        kwargs["data_root"] = args.data_root
    env = gym.make(args.env, config=esper_env.config_for(args.env, **kwargs))
    agent = make_agent(args.agent, schema=env.unwrapped.schema, trust=args.trust_policy_file)
    total = env.unwrapped.max_epochs
    print(f"{args.env} | agent {agent.name} | seed {args.seed} | {total} epochs | "
          f"device {env.unwrapped.device} ({env.unwrapped.precision})")
    bar = tqdm(total=total, unit="epoch", leave=False, file=sys.stderr, disable=args.quiet)

    def log(step):
        bar.update(1)
        if args.quiet:
            return
        r = step.report
        stages = " ".join(f"{s.stage.name[:5].lower()}{f'({s.alpha:.2f})' if 0 < s.alpha < 1 else ''}"
                          for s in r.slots)
        bar.write(f"epoch {r.epoch:3d}  train {100 * r.train_accuracy:5.1f}%  val {100 * r.val_accuracy:5.1f}%  "
                  f"[{stages}]  {step.command:<34} {step.reason}")

    if args.resume:
        record = resume_episode(args.checkpoint, env, agent, seed=args.seed, on_step=log)
    else:
        record = run_episode(env, agent, seed=args.seed, on_step=log, after_step=(
            (lambda r: save_checkpoint(args.checkpoint, env, agent, r)) if args.checkpoint else None))
    bar.close()
    o = record.outcome
    print(f"final: test {100 * o.test_accuracy:.2f}%  val {100 * o.val_accuracy:.2f}%  "
          f"params {o.total_params:,} (+{o.added_params:,})  FLOPs/image {o.flops_per_image:,}  "
          f"train FLOPs {o.train_flops:.3g}  return {record.episode_return:+.4f}")
    live = {s.slot: f"{s.blueprint} ({s.stage.name.lower()}, alpha {s.alpha:.2f})" for s in o.live_seeds}
    print(f"seeds: germinated {o.seeds_germinated}, fossilized {o.seeds_fossilized}, culled "
          f"{o.seeds_culled}; fossilized: {dict(o.architecture) or 'none'}; still live: {live or 'none'}")
    if args.plot:
        from .plots import plot_episode
        print(f"plot: {plot_episode(record, args.plot)}")
    if args.json:
        with atomic_path(args.json, suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(episode_result(record, env.unwrapped.config, env_id=args.env).to_dict(), f, indent=1)
        print(f"result: {args.json}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import CompareConfig, run_comparison

    overrides = dict(args.env_args)
    if args.data_root:
        overrides["data_root"] = args.data_root
    cfg = CompareConfig(env_id=args.env, overrides=overrides, rows=tuple(args.agents), seeds=tuple(args.seeds),
                        scratch=not args.no_scratch, out=args.out, workers=args.workers, executor=args.executor,
                        command=" ".join(["esper", *map(shlex.quote, sys.argv[1:])]))
    check_output_dir(args.out, "--out")
    cfg.env_config()  # validate before any run starts
    comp = run_comparison(cfg, progress=not args.quiet)
    print(comp.table)
    print(f"outputs: {cfg.out}/table.md, runs.jsonl, curves.png, flops.png")
    return 1 if comp.failed else 0


def cmd_collect(args: argparse.Namespace) -> int:
    from .simic import TRAIN_SEEDS_START, CollectConfig, collect

    if args.seeds is None and args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    check_output_file(args.out, "--out")
    seeds = tuple(args.seeds) if args.seeds else tuple(range(TRAIN_SEEDS_START, TRAIN_SEEDS_START + args.episodes))
    cfg = CollectConfig(env_id=args.env, overrides=dict(args.env_args), teacher=args.agent, seeds=seeds,
                        explore=args.explore, out=args.out, workers=args.workers)
    demos = collect(cfg, progress=not args.quiet)
    a = demos.arrays()
    print(f"{len(demos.episodes)} episodes, {len(a['action'])} steps ({(a['action'] != a['teacher']).mean():.1%} "
          f"explored); teacher's mean return {a['episode_return'].mean():+.4f} -> {args.out}")
    if demos.failed:
        print(f"esper: {len(demos.failed)} episode(s) failed (their worker process died): seeds "
              f"{', '.join(map(str, demos.failed))}; rerun the same command to try them again", file=sys.stderr)
        return 1
    return 0


def cmd_bc(args: argparse.Namespace) -> int:
    from .simic import BCConfig, behaviour_clone

    check_output_file(args.out, "--out", ("zip",))
    if not 0.0 <= args.entropy_coef < 100:
        raise ValueError(f"--entropy-coef must be in [0, 100), got {args.entropy_coef}")
    if args.sharpen_entropy is not None and not args.sharpen_entropy > 0:
        raise ValueError(f"--sharpen-entropy must be > 0 nats, got {args.sharpen_entropy}")
    cfg = BCConfig(data=args.data, out=args.out, epochs=args.epochs, seed=args.seed, entropy_coef=args.entropy_coef,
                   sharpen_entropy=args.sharpen_entropy)
    _, held, report = behaviour_clone(cfg, progress=not args.quiet)
    t = report["train"]
    print(f"trained on {report['train_episodes']} episodes (accuracy {t['accuracy']:.1%}, balanced "
          f"{t['balanced_accuracy']:.1%}); held out {report['held_out_episodes']} episodes:")
    for line in held.lines():
        print("  " + line)
    e = report["entropy"]
    if "sharpened" in e:
        print(f"policy entropy {e['fitted']:.3f} -> {e['sharpened']:.3f} nats (logits x{e['logit_scale']:.2f})")
    else:
        print(f"policy entropy {e['fitted']:.3f} nats")
    print(f"policy: {args.out} (report: {args.out.removesuffix('.zip')}.json)")
    return 0


def cmd_ppo(args: argparse.Namespace) -> int:
    import dataclasses

    from .simic import PPOConfig, train_ppo

    fields = {f.name for f in dataclasses.fields(PPOConfig)}
    extra = dict(args.ppo_args)
    unknown = sorted(set(extra) - fields)
    if unknown:
        raise ValueError(f"unknown --ppo setting(s) {', '.join(unknown)}; the settings are {', '.join(sorted(fields))}")
    check_output_dir(args.out, "--out")
    if args.init is None and not args.resume:
        raise ValueError("--init POLICY.zip is needed (the `esper bc` output), or --resume to continue --out")
    cfg = PPOConfig(init=args.init or "", env_id=args.env, overrides=dict(args.env_args), timesteps=args.timesteps,
                    out=args.out, n_envs=args.n_envs, **extra)
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
        commands = {"run": cmd_run, "compare": cmd_compare, "collect": cmd_collect, "bc": cmd_bc, "ppo": cmd_ppo}
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
