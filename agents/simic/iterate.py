"""``esper iterate``: policy iteration -- label, clone, then label the clone's own states with branches played by
the clone, and clone again.

Round 0 is Simic v2's single step: ``start`` (the heuristic, a schedule, or a saved policy) plays the episodes and
every branch; the improved teacher's labels are cloned into ``round0/policy.zip``. Round k >= 1 is approximate
policy iteration with DAgger's state distribution: the policy of round k-1 plays the labelled episodes (so the
states are those *it* visits) and, with ``rollout="policy"``, every branch too (so a label says which command is
best *given that the current policy plays on*); the clone of round k learns from the labels of rounds 0..k
together (DAgger's aggregation). Each round labels fresh training seeds.

Every stage is a file written atomically, so the command resumes: an interrupted labelling continues by episode
(``esper improve``'s file), a finished round is never redone, and a larger ``rounds`` adds rounds to a finished
run. ``iterate.json`` holds each round's budget (episodes, branch epochs, episode-equivalents, wall seconds) and
the clone's agreement with the labels it did not train on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import esper_env
from esper_env.fileio import atomic_path, check_output_dir, portable
from esper_env.leyline import LAYOUT_CODEC

from ..parallel import check_executor
from ..seeds import TRAINING_START, check_training_seeds
from .bc import BCConfig, behaviour_clone
from .branch import OBJECTIVES, ImproveConfig, check_race, improve
from .critic import FORMS, CriticConfig, write_labels
from .threads import torch_threads

ROLLOUTS_OF_THE_POLICY = "policy"
"""``rollout`` value: each round's branches are played by the policy being improved (``start`` in round 0)."""


@dataclass
class IterateConfig:
    """Policy iteration: rounds of labelling (improved teacher) and behaviour cloning."""

    env_id: str = "Esper-Fast-v0"
    """Registered env id (Esper-Mixed-v0 with --set tasks=cheap: a task of the cheap distribution per seed)."""
    overrides: dict = field(default_factory=dict)
    """EsperConfig fields (or the task distribution's settings) for every episode."""
    rounds: int = 2
    """Rounds of labelling and cloning (round 0 labels ``start``'s states; later rounds the last clone's)."""
    episodes: int = 16
    """Labelled episodes per round (>= 2: one in six, at least one, is held out of cloning); round k plays
    training seeds first_seed + k * episodes onwards."""
    first_seed: int = TRAINING_START
    """The first training seed (>= 1000); replicates of the whole pipeline give different ranges."""
    start: str = "heuristic"
    """Who plays round 0: a built-in rule controller, schedule:PATH.json or policy:PATH.zip."""
    rollout: str = ROLLOUTS_OF_THE_POLICY
    """Who plays every branch: "policy" (the policy being improved: start in round 0, the last clone after), or
    one fixed rule controller / schedule:PATH.json for every round."""
    objective: str = "val"
    """What a branch is worth: "val" (final validation accuracy) or "return"."""
    max_germinate: int = 2
    """GERMINATE candidates per state."""
    concurrent: bool = True
    """Also branch GERMINATE while another seed grows (a second or third seed later)."""
    stride: int = 2
    """Branch at every stride-th epoch (and at every non-WAIT command of the rollout)."""
    margin: float = 0.0
    """A branch replaces the rollout's own command only if it is better by more than this."""
    race: int = 0
    """Racing labels (:mod:`agents.simic.racing`): the first rung's epochs; 0: every candidate played to the end."""
    race_gap: float | None = None
    """Racing drops the alternatives more than this behind the leading one at each rung; None: the worse half."""
    focus: str = "all"
    """Which states and commands are branched: "all" (every ``stride``-th state, every candidate) or "growing" (the
    own command against culling each GERMINATED or TRAINING seed, at every state with one: agents/simic/branch.py)."""
    critic: bool = False
    """Clone the labels of a critic fitted on every round's branches (:mod:`agents.simic.critic`: what states like
    this one reward on average) instead of each state's own best branch."""
    critic_margin: float = 0.25
    """Points of predicted advantage the critic's label needs over the own command."""
    critic_margins: tuple[float, ...] = ()
    """If given, the critic's margin is picked among these each round by cross-validation over the round's training
    seeds, or the critic abstains (labels = the own command) where no margin's deviations realised a gain."""
    critic_form: str = "report"
    """"report" (every action's advantage from the whole observation) or "seed" (a CULL's advantage from the culled
    seed's own report: agents/simic/critic.py)."""
    critic_hidden: int = 64
    """Units of each of the critic's two hidden layers."""
    observe: tuple[str, ...] | None = None
    """Observation fields the critic and the clone read (None: all; the blind ablation: progress, budget_left)."""
    residual: Path | None = None
    """A schedule, task schedule or rule base (JSON; agents/residual.py) every clone is residual to: it plays the
    plan unless its logits overrule it, so an untrained clone is the plan and cloning learns only the deviations
    (None: plain clones, Simic v2's)."""
    residual_bonus: float = 3.0
    """The plan's head start in logits (residual clones only)."""
    bc_epochs: int = 300
    """Behaviour-cloning epochs per round."""
    bc_seed: int = 0
    """Behaviour cloning's sampling seed."""
    out: Path = Path("runs/iterate")
    """Folder: round<k>/labels.npz, round<k>/policy.zip, iterate.json."""
    workers: int = 1
    """Worker processes for labelling, one torch thread each."""
    executor: str = "process"
    """"process" or "ray" (a Ray cluster at $RAY_ADDRESS, else a local one); the files do not depend on it."""

    def check(self) -> None:
        """Every setting, before any work (one clear error each)."""
        from ..registry import ControllerSpec

        schema = esper_env.config_for(self.env_id, **self.overrides).schema()
        for name, low in (("rounds", 1), ("episodes", 2), ("max_germinate", 1), ("stride", 1), ("bc_epochs", 1),
                          ("workers", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        check_training_seeds(tuple(s for k in range(self.rounds) for s in self.seeds(k)))  # every round's
        start = ControllerSpec.parse(self.start, named=False, what="start")
        if not (start.is_rule or start.kind == "policy"):
            raise ValueError(f"start must be a rule controller, schedule:PATH.json or policy:PATH.zip, got "
                             f"{self.start!r}")
        start.check(schema)
        if self.rollout != ROLLOUTS_OF_THE_POLICY:
            rollout = ControllerSpec.parse(self.rollout, named=False, what="rollout")
            if not rollout.is_rule:
                raise ValueError(f"rollout must be 'policy' or a rule controller / schedule:PATH.json, got "
                                 f"{self.rollout!r}")
            rollout.check()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")
        check_race(self.race, self.race_gap)
        if not all(m >= 0 for m in (self.critic_margin, *self.critic_margins)):
            raise ValueError(f"critic margins must be >= 0 points, got {self.critic_margin} / "
                             f"{list(self.critic_margins)}")
        if self.critic_form not in FORMS:
            raise ValueError(f"critic_form must be one of {', '.join(FORMS)}, got {self.critic_form!r}")
        if self.residual is not None:
            from ..residual import load_base

            load_base(self.residual)  # exists and parses (a rule base, a schedule or a task schedule)
        check_output_dir(self.out, "--out")
        check_executor(self.executor)

    def seeds(self, k: int) -> tuple[int, ...]:
        """Training seeds of round ``k``."""
        return tuple(range(self.first_seed + k * self.episodes, self.first_seed + (k + 1) * self.episodes))

    def labels(self, k: int) -> Path:
        return Path(self.out) / f"round{k}" / "labels.npz"

    def policy(self, k: int) -> Path:
        return Path(self.out) / f"round{k}" / "policy.zip"

    def critic_labels(self, k: int) -> Path:
        """Round ``k``'s labels as the critic of the last round sees them."""
        return Path(self.out) / f"round{k}" / "critic-labels.npz"

    def critic_config(self) -> CriticConfig:
        return CriticConfig(objective=self.objective, margin=self.critic_margin, form=self.critic_form,
                            hidden=self.critic_hidden,
                            margins=tuple(self.critic_margins), observe=self.observe, seed=self.bc_seed)

    def bc_config(self, k: int) -> BCConfig:
        """Round ``k``'s cloning: the labels of rounds 0..k (DAgger's aggregation) into ``policy(k)``."""
        files = [(self.critic_labels if self.critic else self.labels)(j) for j in range(k + 1)]
        return replace(BC, data=files[-1], also=tuple(files[:-1]), out=self.policy(k), epochs=self.bc_epochs,
                       seed=self.bc_seed, residual=self.residual, residual_bonus=self.residual_bonus,
                       sharpen_entropy=None if self.residual else BC.sharpen_entropy,
                       holdout_every=min(BC.holdout_every, self.episodes), observe=self.observe)

    def improve_config(self, k: int) -> ImproveConfig:
        """Round ``k``'s labelling: its seeds, its behaviour (start, then the last clone) and rollout."""
        behaviour = self.start if k == 0 else f"policy:{self.policy(k - 1)}"
        rollout = self.rollout if self.rollout != ROLLOUTS_OF_THE_POLICY else behaviour
        return ImproveConfig(self.env_id, dict(self.overrides), self.seeds(k), behaviour=behaviour, rollout=rollout,
                             objective=self.objective, max_germinate=self.max_germinate, concurrent=self.concurrent,
                             stride=self.stride, margin=self.margin, race=self.race, race_gap=self.race_gap,
                             focus=self.focus,
                             out=self.labels(k),
                             workers=self.workers, executor=self.executor)


BC = BCConfig(net_arch=(128, 128), entropy_coef=1.0, sharpen_entropy=0.1, holdout_every=6)
"""Simic v2's cloning settings (attempt 3), except the epochs and seed, which the config sets."""


def iterate(cfg: IterateConfig, progress: bool = True) -> dict:
    """Run (or continue) ``cfg.rounds`` rounds; returns ``iterate.json``'s contents."""
    cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "iterate.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {"rounds": {}}
    for k in range(cfg.rounds):
        done = summary["rounds"].get(str(k))
        if done is not None and cfg.policy(k).is_file():
            continue
        start = time.perf_counter()
        imp = cfg.improve_config(k)
        demos = improve(imp, progress=progress)
        if demos.failed:
            raise RuntimeError(f"round {k}: episodes of seeds {demos.failed} failed (their worker process died); "
                               "rerun the same command to try them again")
        labelled = time.perf_counter() - start
        critic = None
        bc = cfg.bc_config(k)
        with torch_threads(1):  # small networks: one thread is the fast path, and others may be labelling beside
            if cfg.critic:  # the critic of every round's branches so far relabels every round's file
                critic = write_labels([cfg.labels(j) for j in range(k + 1)],
                                      [cfg.critic_labels(j) for j in range(k + 1)], cfg.critic_config(),
                                      len(LAYOUT_CODEC.commands))
            _, held, _ = behaviour_clone(bc, progress=progress)
        budget = demos.meta["budget"]
        max_epochs = {str(seed): len(ep.action) for seed, ep in demos.episodes.items()}  # rows = epochs
        epochs = sum(b["epochs"] for b in budget.values())
        summary["rounds"][str(k)] = dict(
            seeds=list(imp.seeds), behaviour=_portable(imp.behaviour), rollout=_portable(imp.rollout),
            episodes=len(budget),
            states=sum(b["states"] for b in budget.values()), branches=sum(b["branches"] for b in budget.values()),
            branch_epochs=epochs,
            episode_equivalents=round(sum(b["epochs"] / max_epochs[s] for s, b in budget.items()), 2),
            relabelled=sum(b["relabelled"] for b in budget.values()), label_wall_s=round(labelled, 1),
            bc_wall_s=round(time.perf_counter() - start - labelled, 1),
            trained_on=[portable(f) for f in (*bc.also, bc.data)],
            held_out_agreement=held.accuracy, policy=portable(cfg.policy(k)),
            **({"critic": {key: critic[key] for key in ("states", "changed_labels", "held_out")}} if critic else {}))
        with atomic_path(summary_path, suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


def _portable(controller: str) -> str:
    kind, _, path = controller.partition(":")
    return f"{kind}:{portable(path)}" if path else controller
