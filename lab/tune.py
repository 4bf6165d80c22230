"""``esper tune``: the best static schedule a stated episode budget can find (optuna TPE), on training seeds.

Each trial is a :class:`~agents.schedule.Schedule` (0 to ``max_seeds`` seeds: when, where, which blueprint,
how long isolated), played on every tuning seed; its score is the mean final *validation* accuracy (test
accuracy is never looked at while tuning). Episodes run through the comparison's executor, so they are
cached under ``<out>/runs/`` (or a shared ``cache``) and spread over worker processes; the study is an optuna
journal file (``<out>/study.log``), so an interrupted search resumes where it stopped and a finished trial is never run
again. The budget is stated up front: ``trials`` x ``len(seeds)`` episodes.

Outputs in ``<out>``: ``best.json`` (the best schedule, a file ``schedule:PATH`` plays), ``trace.jsonl`` (one line
per finished trial: number, schedule, score, per-seed validation accuracy) and ``trials/<n>.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import esper_env
from agents.parallel import check_executor
from agents.schedule import Schedule, ScheduledSeed
from agents.seeds import TRAINING_START, check_training_seeds
from esper_env.fileio import atomic_path, check_output_dir

from .compare import Executor, RunSpec
from .compare.plan import run_precision


@dataclass
class TuneConfig:
    """A schedule search."""

    env_id: str = "Esper-Fast-v0"
    """Registered env id."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced for every episode."""
    trials: int = 40
    """Schedules to try (the budget is trials x seeds episodes: state it beside the result)."""
    seeds: tuple[int, ...] = tuple(range(TRAINING_START, TRAINING_START + 5))
    """Training seeds every trial plays (>= 1000)."""
    max_seeds: int = 2
    """Most seeds a schedule may grow."""
    out: Path = Path("runs/tune")
    """Output folder: study.log, best.json, trace.jsonl, trials/, runs/ (the episode cache)."""
    workers: int = 1
    """Worker processes, one torch thread each."""
    executor: str = "process"
    """"process" (local worker processes) or "ray" (a Ray cluster at $RAY_ADDRESS, else a local one with --workers
    CPUs); the results do not depend on it."""
    parallel_trials: int = 1
    """Trials asked of the study at once and played together (their episodes spread over the workers or the
    cluster); above 1 the TPE sampler runs with optuna's constant liar so that they differ."""
    seed: int = 0
    """The sampler's seed."""
    cache: Path | None = None
    """The episode cache's folder (default: ``out``): searches that share one run a plan they both try once."""
    enqueue: tuple[str, ...] = ()
    """Schedule files tried first, in order, before the sampler proposes any (the best plans anyone has found:
    the heuristic's and each controller's static twin, an earlier search's best), clipped into the space."""

    def check(self) -> None:
        """Every setting, before any work starts (one clear error each)."""
        esper_env.config_for(self.env_id, **self.overrides)
        for name in ("trials", "max_seeds", "workers", "parallel_trials"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        check_training_seeds(self.seeds)
        for path in self.enqueue:
            n = len(Schedule.load(path).seeds)  # exists and parses
            if n > self.max_seeds:
                raise ValueError(f"--enqueue {path} grows {n} seeds but --max-seeds is {self.max_seeds}; raise it")
        check_output_dir(self.out, "--out")
        check_output_dir(self.cache, "--cache")
        check_executor(self.executor)


AT, TRAIN_EPOCHS = (0.0, 0.75), (1, 6)
"""The space's bounds on a seed's germination (fraction of the budget) and its TRAINING epochs."""


def as_params(schedule: Schedule, num_slots: int) -> dict:
    """``schedule`` as the search space's parameters (:func:`suggest`'s names), clipped into its bounds: what
    ``study.enqueue_trial`` takes so that a known plan is tried as it is."""
    params = {"n_seeds": len(schedule.seeds)}
    for i, s in enumerate(schedule.seeds):
        params.update({f"at{i}": min(max(s.at, AT[0]), AT[1]), f"slot{i}": min(s.slot, num_slots - 1),
                       f"blueprint{i}": s.blueprint,
                       f"train_epochs{i}": min(max(s.train_epochs, TRAIN_EPOCHS[0]), TRAIN_EPOCHS[1])})
    return params


def suggest(trial, num_slots: int, blueprints: tuple[str, ...], max_seeds: int) -> Schedule:
    """The search space: how many seeds (up to ``max_seeds``: one, two or three at once, in any enabled slot
    ranks), and for each when (fraction of the budget), where, what, how long it trains in isolation."""
    seeds = []
    for i in range(trial.suggest_int("n_seeds", 0, max_seeds)):
        seeds.append(ScheduledSeed(at=trial.suggest_float(f"at{i}", *AT), slot=trial.suggest_int(
            f"slot{i}", 0, num_slots - 1), blueprint=trial.suggest_categorical(f"blueprint{i}", list(blueprints)),
            train_epochs=trial.suggest_int(f"train_epochs{i}", *TRAIN_EPOCHS)))
    return Schedule(tuple(seeds))


def tune(cfg: TuneConfig, progress: bool = True) -> tuple[Schedule, float]:
    """Run (or continue) the search; returns the best schedule and its score (mean validation accuracy)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from tqdm import tqdm

    cfg.check()
    out = Path(cfg.out)
    (out / "trials").mkdir(parents=True, exist_ok=True)
    configs = {seed: esper_env.config_for(cfg.env_id, seed, **cfg.overrides) for seed in cfg.seeds}
    # one schedule for every task: slot ranks and blueprints any of the seeds' tasks has (a schedule skips a
    # rank or blueprint a task does not enable)
    ranks = max(len(c.slots) for c in configs.values())
    blueprints = tuple(dict.fromkeys(b for c in configs.values() for b in c.blueprints))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="esper-tune", direction="maximize", load_if_exists=True,
                                storage=JournalStorage(JournalFileBackend(str(out / "study.log"))),
                                sampler=optuna.samplers.TPESampler(seed=cfg.seed,
                                                                   constant_liar=cfg.parallel_trials > 1))
    if not study.trials:  # a new study: the known plans first, in order
        for path in cfg.enqueue:
            study.enqueue_trial(as_params(Schedule.load(path), ranks), user_attrs={"enqueued": str(path)})
    executor = Executor(Path(cfg.cache) if cfg.cache is not None else out, cfg.workers, cfg.executor)
    bar = tqdm(total=cfg.trials, initial=min(_finished(study), cfg.trials), unit="trial", desc="tune",
               disable=not progress)
    try:
        # the count is the study's, not this process's: several drivers sharing one study (its journal file on a
        # shared filesystem) stop together at cfg.trials
        while (n_done := _finished(study)) < cfg.trials:
            asked = [study.ask() for _ in range(min(cfg.parallel_trials, cfg.trials - n_done))]
            plans = {}
            for trial in asked:
                schedule = suggest(trial, ranks, blueprints, cfg.max_seeds)
                path = schedule.save(out / "trials" / f"{trial.number}.json")
                plans[trial.number] = (trial, schedule, [
                    RunSpec(cfg.env_id, configs[s].to_dict(), f"schedule:{path}", s, row=f"trial{trial.number}",
                            precision=run_precision(configs[s].to_dict())) for s in cfg.seeds])
            results = executor.run([spec for _, _, specs in plans.values() for spec in specs])
            if executor.failed:
                for trial, _, _ in plans.values():
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                raise RuntimeError(f"trials {', '.join(map(str, plans))}: a worker process died "
                                   f"({executor.failed[0][1]}); rerun the same command to continue")
            for trial, schedule, specs in plans.values():
                vals = [results[s.key].outcome.val_accuracy for s in specs]
                trial.set_user_attr("val_accuracy", vals)
                trial.set_user_attr("schedule", schedule.to_json())
                study.tell(trial, sum(vals) / len(vals))
            write_trace(study, out / "trace.jsonl")
            bar.update(len(plans))
    finally:
        bar.close()
    write_trace(study, out / "trace.jsonl")
    best = Schedule.load(out / "trials" / f"{study.best_trial.number}.json")
    best.save(out / "best.json")
    return best, study.best_value


def _finished(study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def write_trace(study, path: Path) -> None:
    """Every finished trial, one JSON line each (trial, score, per-seed validation accuracy, schedule), written
    atomically from the study itself, so the trace always agrees with it."""
    import optuna

    with atomic_path(path, suffix=".jsonl") as tmp, open(tmp, "w") as f:
        for t in study.trials:
            if t.state == optuna.trial.TrialState.COMPLETE:
                f.write(json.dumps(dict(trial=t.number, score=t.value, **t.user_attrs)) + "\n")
