"""Simic v2: the improved teacher, labelled from branches of exact snapshots (agents/simic/rollout.py).

The *improved teacher* (rollout policy improvement over the heuristic): at each visited state, branch a small
set of candidate commands (:func:`candidates`: WAIT, the rollout controller's own command, the legal ADVANCE
and CULL commands, and a few GERMINATEs), play each to the end with the rollout controller, and label the
state with the best branch -- the rollout's own command unless another beats it by more than ``margin``.
The labels go into a demonstration file (``teacher`` column) that ``esper bc`` clones. Played with a learned
``behaviour`` policy instead of the heuristic, the same labelling is DAgger: the states a learned policy
visits get the improved teacher's labels, and the files aggregate by seed.

Branches never look at the test split: the objective is the final validation accuracy (``objective="val"``)
or the return (``"return"``: validation gain minus the parameter rent). The branching budget is explicit:
which states (``stride``), how many candidates (``max_germinate``) and the epochs every branch trained are
recorded (``episodes-equivalent`` = branch epochs / ``max_epochs``).
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

import esper_env
from esper_env.fileio import check_output_file
from esper_env.leyline import ACTIVE_STAGES, ActionCodec, Command, Op, SeedStage, TrainingReport

from ..parallel import WorkerDied, check_executor, maybe_crash, run_tasks
from ..seeds import TRAINING_START, check_training_seeds
from .dataset import Demonstrations, Episode, EpisodeRows, open_or_start, recording
from .dataset import load as load_demonstrations
from .rollout import Branch, best_branch, branch, race

OBJECTIVES = ("val", "return")
FOCUS = ("all", "growing")
"""Where the improved teacher branches (:attr:`ImproveConfig.focus`)."""


@dataclass
class ImproveConfig:
    """``esper improve``: label the states a behaviour controller visits with the best branch."""

    env_id: str = "Esper-Fast-v0"
    """Registered env id (Esper-Mixed-v0: a task per seed)."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields replaced for every episode (or the task distribution's settings on Esper-Mixed-v0)."""
    seeds: tuple[int, ...] = tuple(range(TRAINING_START, TRAINING_START + 10))
    """Training seeds (>= 1000) whose episodes are labelled."""
    behaviour: str = "heuristic"
    """Who plays the labelled episodes: "teacher" (the improved teacher itself: its label is played, so the states
    are those it visits), a built-in controller, schedule:PATH.json, or policy:PATH.zip (DAgger: a learned
    policy's states)."""
    rollout: str = "heuristic"
    """The controller that plays every branch to its end: a built-in rule controller, schedule:PATH.json, or
    policy:PATH.zip (a saved policy acting greedily); each decides from the current observation alone, so a
    fresh one can take over mid-episode."""
    objective: str = "val"
    """What a branch is worth: "val" (final validation accuracy) or "return" (with the parameter rent)."""
    max_germinate: int = 2
    """GERMINATE candidates per state: the rollout's preferred free slot with its first N blueprints."""
    concurrent: bool = False
    """Also branch GERMINATE while another seed is still growing (two seeds at once), not only when none is."""
    stride: int = 1
    """Branch at every stride-th epoch (the rollout's own non-WAIT decisions are always branched)."""
    margin: float = 0.0
    """A branch replaces the rollout's own command only if it is better by more than this."""
    race: int = 0
    """Racing (:mod:`agents.simic.racing`): the alternatives to the rollout's command play this many epochs, the
    worse half is dropped, the survivors twice as long, ...; only the winner plays to the end. When the rollout
    controller plays the episode, its own command's branch is the episode itself and costs nothing. 0: every
    candidate is played to the end."""
    race_gap: float | None = None
    """Racing by the leader's gap: at each rung drop only the alternatives more than this behind the leading one (in
    the objective's units: 0.02 = 2 points of validation accuracy); None: drop the worse half."""
    focus: str = "all"
    """Which states and commands are branched: "all" (every ``stride``-th state, :func:`candidates`) or "growing"
    (:func:`growing_candidates`: every state where a seed is GERMINATED or TRAINING, the rollout's own command
    against culling each such seed -- where the room above the reactive heuristic is, issue 36)."""
    out: Path = Path("runs/improved.npz")
    """Demonstration file (appended to by seed, like ``esper collect``)."""
    workers: int = 1
    """Worker processes, one torch thread each."""
    executor: str = "process"
    """"process" (local worker processes) or "ray" (a Ray cluster at $RAY_ADDRESS, else a local one with --workers
    CPUs); the results do not depend on it."""

    def check(self) -> None:
        from ..registry import ControllerSpec

        esper_env.config_for(self.env_id, **self.overrides)
        check_training_seeds(self.seeds)
        rollout = ControllerSpec.parse(self.rollout, named=False)
        if not (rollout.is_rule or rollout.kind == "policy"):
            raise ValueError(f"rollout must be a built-in rule controller, schedule:PATH.json or policy:PATH.zip "
                             f"(it must decide from the current observation alone), got {self.rollout!r}")
        rollout.check(esper_env.config_for(self.env_id, **self.overrides).schema())  # refused before any work
        if self.behaviour != "teacher":
            ControllerSpec.parse(self.behaviour, named=False, what="behaviour (or teacher)").check()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.focus not in FOCUS:
            raise ValueError(f"focus must be one of {', '.join(FOCUS)}, got {self.focus!r}")
        check_race(self.race, self.race_gap)
        for name in ("max_germinate", "stride", "workers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        check_output_file(self.out, "--out", ("npz",))
        check_executor(self.executor)


def check_race(race: int, gap: float | None) -> None:
    """Refuse a racing setting that cannot run: the first rung an integer >= 0, a leader's gap >= 0 with a rung."""
    if not isinstance(race, int) or isinstance(race, bool) or race < 0:
        raise ValueError(f"race must be an integer >= 0 (epochs of the first rung; 0: full branches), got {race!r}")
    if gap is not None and not (gap >= 0 and race > 0):
        raise ValueError(f"race_gap must be >= 0 and needs --race > 0 (a first rung), got race_gap={gap} with "
                         f"race={race}")


def candidates(report: TrainingReport, mask: np.ndarray, rollout_action: int, max_germinate: int,
               codec: ActionCodec | None = None, concurrent: bool = False) -> list[int]:
    """The commands worth branching at ``report``: WAIT, the rollout's own, every legal ADVANCE and CULL, and (when
    no seed is active, or always with ``concurrent``) GERMINATE at the first free enabled slot with the first
    ``max_germinate`` blueprints of the heuristic's preference order that the task enables. Sorted, legal,
    distinct."""
    from ..tamiyo import TamiyoConfig

    codec = codec or ActionCodec.layout()
    out = {0, int(rollout_action)}
    for a in np.flatnonzero(mask):
        if codec.decode(a).op in (Op.ADVANCE, Op.CULL):
            out.add(int(a))
    if concurrent or not any(s.stage in ACTIVE_STAGES for s in report.slots):
        free = next((s.index for s in report.slots if s.stage == SeedStage.DORMANT), None)
        if free is not None:
            order = [b for b in TamiyoConfig().blueprint_order if b in report.blueprints]
            for b in order[:max_germinate]:
                out.add(codec.encode(Command.germinate(free, b)))
    return sorted(a for a in out if mask[a])


def growing_candidates(report: TrainingReport, mask: np.ndarray, rollout_action: int,
                       codec: ActionCodec | None = None) -> list[int]:
    """The rollout's own command and the legal CULL of every seed in GERMINATED or TRAINING (a seed still proving
    itself: the one decision the reactive heuristic's own-loss rule makes late or never for a seed that fails
    quietly). Sorted, distinct; a single entry where no such seed grows (nothing to branch)."""
    codec = codec or ActionCodec.layout()
    out = {int(rollout_action)}
    for s in report.slots:
        if s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING):
            a = codec.encode(Command.cull(s.index))
            if mask[a]:
                out.add(int(a))
    return sorted(out)


def branch_here(cands: list[int], epoch: int, own: int, stride: int, codec: ActionCodec) -> bool:
    """Whether a state is branched: more than one candidate, and every ``stride``-th epoch or a rollout command
    other than WAIT."""
    return len(cands) > 1 and (epoch % stride == 0 or codec.decode(own).op != Op.WAIT)


def state_candidates(report: TrainingReport, mask: np.ndarray, own: int, cfg: dict,
                     codec: ActionCodec) -> tuple[list[int], bool]:
    """The commands branched at a state and whether it is branched, as labelling ``cfg`` says (``focus``:
    :func:`growing_candidates` wherever a seed grows, else :func:`candidates` at :func:`branch_here`'s states)."""
    if cfg.get("focus", "all") == "growing":
        cands = growing_candidates(report, mask, own, codec)
        return cands, len(cands) > 1
    cands = candidates(report, mask, own, cfg["max_germinate"], codec, cfg["concurrent"])
    return cands, branch_here(cands, report.epoch, own, cfg["stride"], codec)


@dataclass(frozen=True)
class BranchStats:
    """The branching budget one episode spent."""

    states: int
    """States branched."""
    branches: int
    epochs: int
    """Epochs trained in branches."""
    relabelled: int
    """States whose label differs from the rollout controller's command."""
    labels: dict[str, list[int]] = field(default_factory=dict)
    """Each objective's label at every step (the same branches decide both; ``teacher`` holds the chosen one;
    when racing, the race ranks by the chosen objective and the other's label is read off its survivors)."""
    branched: list[dict] = field(default_factory=list)
    """Every branched state: ``step``, the rollout's command ``own``, ``values`` {action: [final validation
    accuracy, return from the state]} of the branches played to the end (the own command's included) and, when
    racing, ``dropped`` {action: value where the race dropped it}: what a critic of the report is fitted on."""


def improve_episode(env_id: str, kwargs: dict, cfg: dict, seed: int) -> tuple[Episode, BranchStats]:
    """Play ``seed`` with the behaviour controller and label every state with the improved teacher (in this
    process, one torch thread)."""
    import gymnasium as gym
    import torch

    from .. import make_agent

    maybe_crash(f"improve:{seed}")
    torch.set_num_threads(1)
    env = gym.make(env_id, **kwargs)
    codec = ActionCodec.layout()
    teacher = cfg["behaviour"] == "teacher"
    behaviour = None if teacher else make_agent(cfg["behaviour"], schema=env.unwrapped.schema)
    rollout = make_agent(cfg["rollout"], schema=env.unwrapped.schema)
    # a saved policy is stateless and greedy: one copy plays every branch (loading it per branch is slow)
    fresh = (lambda: rollout) if cfg["rollout"].startswith("policy:") else partial(make_agent, cfg["rollout"])
    obs, info = env.reset(seed=seed)
    if behaviour is not None:
        behaviour.reset(seed)
    rows = EpisodeRows()
    states = n_branches = epochs = 0
    labels: dict[str, list[int]] = {o: [] for o in OBJECTIVES}
    branched: list[dict] = []
    deferred: list[tuple] = []  # racing with the rollout as behaviour: (step, snapshot, alternatives, own)
    own_free = cfg.get("race", 0) > 0 and cfg["behaviour"] == cfg["rollout"]
    done, step, owns = False, 0, []
    while not done:
        mask = np.asarray(info["action_mask"], dtype=bool)
        own = int(rollout.act(obs, info))
        owns.append(own)
        cands, here = state_candidates(info["report"], mask, own, cfg, codec)
        by_objective = dict.fromkeys(OBJECTIVES, own)
        if here:
            snap = env.unwrapped.snapshot()
            states += 1
            if own_free:  # the own command's branch is the rest of this episode: race the others once it ends
                deferred.append((step, snap, [a for a in cands if a != own], own))
            else:
                record, spent = _branch_state(env, snap, cands, own, fresh, cfg)
                by_objective = {o: record["labels"][o] for o in OBJECTIVES}
                branched.append(dict(step=step, **{k: v for k, v in record.items() if k != "labels"}))
                n_branches, epochs = n_branches + len(cands), epochs + spent
                obs, info = env.unwrapped.restore(snap)
        label = by_objective[cfg["objective"]]
        for o in OBJECTIVES:
            labels[o].append(int(by_objective[o]))
        action = own if own_free else (label if teacher else int(behaviour.act(obs, info)))
        rows.add(obs, mask, label, action)
        obs, reward, done, _, info = env.step(action)
        rows.reward(reward)
        step += 1
    final, test = info["final"].val_accuracy, info["final"].test_accuracy
    rewards = rows.rows["reward"]
    for i, snap, others, own in deferred:
        own_branch = Branch(own, float(final), float(sum(rewards[i:])), step - i)
        full, dropped, spent = race(env, snap, others, fresh, cfg["race"], cfg["objective"], gap=cfg.get("race_gap"))
        for o in OBJECTIVES:
            labels[o][i] = best_branch([own_branch, *full], own, o, cfg["margin"])
        rows.rows["teacher"][i] = labels[cfg["objective"]][i]
        branched.append(dict(step=i, own=own, values=_values([own_branch, *full]),
                             dropped={str(a): v for a, v in dropped.items()}))
        n_branches, epochs = n_branches + len(others), epochs + spent
    env.close()
    relabelled = sum(int(lab != a) for lab, a in zip(labels[cfg["objective"]], owns))
    branched.sort(key=lambda b: b["step"])
    return rows.episode(seed, test), BranchStats(states, n_branches, epochs, relabelled, labels, branched)


def _values(branches: list[Branch]) -> dict[int, list[float]]:
    return {str(b.action): [b.val_accuracy, b.episode_return] for b in branches}  # JSON keys: the same in memory


def _branch_state(env, snap, cands: list[int], own: int, fresh, cfg: dict) -> tuple[dict, int]:
    """Branch ``cands`` at a state (every one to the end, or racing the others with the own command kept): the
    labels by objective, the branches' values and the epochs spent."""
    if cfg.get("race", 0) > 0:
        full, dropped, spent = race(env, snap, cands, fresh, cfg["race"], cfg["objective"], keep=own,
                                    gap=cfg.get("race_gap"))
    else:
        full = branch(env, snap, cands, fresh)
        dropped, spent = {}, sum(b.epochs for b in full)
    labels = {o: best_branch(full, own, o, cfg["margin"]) for o in OBJECTIVES}
    return dict(labels=labels, own=own, values=_values(full), dropped={str(a): v for a, v in dropped.items()}), spent


def with_objective(path: str | Path, objective: str, out: str | Path) -> Path:
    """A copy of an improved-teacher file whose ``teacher`` column holds the other objective's labels (the
    branches that decided one decided both)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    demos = load_demonstrations(path)
    for seed, ep in demos.episodes.items():
        ep.teacher = np.asarray(demos.meta["budget"][str(seed)]["labels"][objective], dtype=np.int64)
    demos.meta["labelling"] = dict(demos.meta["labelling"], objective=objective)
    return demos.save(out)


def improve(cfg: ImproveConfig, progress: bool = True) -> Demonstrations:
    """Label ``cfg.seeds`` (those not already in ``cfg.out``), saving after every finished episode; returns the
    file's contents (the branching budget of every episode is in ``meta["budget"]``)."""
    from tqdm import tqdm


    cfg.check()
    out = Path(cfg.out)
    labelling = dict(rollout=cfg.rollout, objective=cfg.objective, max_germinate=cfg.max_germinate,
                     concurrent=cfg.concurrent, stride=cfg.stride, margin=cfg.margin, race=cfg.race)
    if cfg.focus != "all":  # files labelled before the option read as "all"
        labelling["focus"] = cfg.focus
    if cfg.race_gap is not None:  # (likewise: files raced before it halved)
        labelling["race_gap"] = cfg.race_gap
    kwargs, schema, made = recording(cfg.env_id, cfg.overrides, teacher=f"improved:{cfg.rollout}", explore=0.0,
                                     labelling=labelling)
    demos = open_or_start(out, made, schema, budget={})
    todo = [s for s in cfg.seeds if s not in demos.episodes]
    bar = tqdm(total=len(cfg.seeds), initial=len(cfg.seeds) - len(todo), unit="episode", desc="improve",
               disable=not progress)

    def finished(seed: int, result: tuple[Episode, BranchStats]) -> None:
        ep, st = result
        demos.episodes[ep.seed] = ep
        demos.meta["budget"][str(ep.seed)] = dict(asdict(st), behaviour=cfg.behaviour)  # labels of both objectives
        demos.meta["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        demos.save(out)
        bar.update(1)

    job = partial(improve_episode, cfg.env_id, kwargs, dict(labelling, behaviour=cfg.behaviour))
    try:
        if cfg.executor == "process" and (cfg.workers == 1 or len(todo) <= 1):
            for seed in todo:
                finished(seed, job(seed))
        else:
            for seed, result in run_tasks(job, todo, cfg.workers, cfg.executor):
                if isinstance(result, WorkerDied):
                    demos.failed.append(seed)
                    bar.update(1)
                else:
                    finished(seed, result)
    finally:
        bar.close()
    return demos
