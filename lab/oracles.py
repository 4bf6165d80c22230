"""Privileged oracles: plans told the episode's hidden event, to bound what a perfect report-reader could gain.

An oracle is not a controller: it reads the env it plays (its :class:`~esper_env.variants.EpisodeVariant`, its
drawn task), which no controller may. It acts only once the event has shown in the training report, plus
:attr:`RevealOracle.delay` epochs of detection delay -- the *reveal oracle* of issue 35's headroom: what the best
plan could do if it were told the event at the moment a perfect reader of the report could have noticed it.

``esper compare`` plays one as a row (``reveal=py:lab.oracles:FaultyRevealFast``): the runner calls
:meth:`RevealOracle.bind` with the env before the episode starts (the only agents it does so for are those with a
``bind`` method); tables name such rows ``reveal``, and their numbers are bounds, never a controller's result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.base import RuleAgent
from agents.reactive import ReactiveTamiyo
from agents.schedule import Schedule, ScheduledSeed
from esper_env.leyline import LAYOUT_CODEC, Command, Op, SeedStage, TrainingReport

ROOT = Path(__file__).resolve().parents[1]
CEILINGS = {"fast": "benchmarks/results/ceiling/fast/best.json",
            "subset": "benchmarks/results/ceiling/subset/best.json"}
"""The best plan written in advance on each stationary task (issue 26): two conv_residual seeds at epochs 0 and 3
(Fast); one conv_residual after the last block at epoch 1, 4 TRAINING epochs (the real subset)."""

LIVE = (SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING)


class _ToldFailures:
    """The privilege of the faulty family's oracles: which germinations fail (``failed``: ``(slot position,
    germination epoch) -> bool``, set by :meth:`bind` when None), and when each live seed was germinated."""

    failed = None

    def bind(self, env) -> None:
        """Be told the env's hidden event: which germinations fail (read from its variant at each question)."""
        self.failed = lambda pos, g: env.variant.failed(env.config.slots.index(pos), g)

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        self.born = {}

    def failed_seed(self, report: TrainingReport, age: int) -> int | None:
        """The slot of a live seed that failed and was germinated at least ``age`` epochs ago (None if none)."""
        if self.failed is None:
            raise RuntimeError("a reveal oracle plays only where it is told the event: bind(env) first (esper "
                               "compare does so for agents with a bind method)")
        for s in report.slots:
            born = self.born.get(s.index)
            if s.stage in LIVE and born is not None and self.failed(s.index, born) and report.epoch - born >= age:
                return s.index
        return None

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        action = super().act(observation, info)
        command = LAYOUT_CODEC.decode(action)
        if command.op == Op.GERMINATE:
            self.born[command.slot] = info["report"].epoch
        return action


class RevealOracle(_ToldFailures, RuleAgent):
    """A plan, plus: cull every seed that failed once its failure shows (its first report) + ``delay`` epochs.

    ``plan``: the plan it follows otherwise (the plan grows again after a cull, as schedules do); ``failed``:
    ``(slot position, germination epoch) -> bool``, the oracle's privilege (set by :meth:`bind` when None)."""

    name = "reveal"
    delay = 1
    """Epochs between the failure showing in the report and the oracle acting on it."""

    def __init__(self, plan: Schedule, failed=None, delay: int | None = None):
        super().__init__()
        self.plan, self.failed, self.born = plan, failed, {}
        if delay is not None:
            self.delay = delay

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        slot = self.failed_seed(report, 1 + self.delay)
        if slot is not None:
            return Command.cull(slot), "failed (known to the oracle), shown in the report"
        command = self.plan.command_at(report)
        return (command, "the plan") if command is not None else (Command.wait(), "the plan")


class FaultyRevealFast(RevealOracle):
    """The reveal oracle of the faulty family on Fast's task: Fast's ceiling plan, culling failed seeds."""

    def __init__(self):
        super().__init__(Schedule.load(ROOT / CEILINGS["fast"]))


class ReactiveReveal(_ToldFailures, ReactiveTamiyo):
    """The reactive heuristic told which seeds fail: it culls a failed seed at its first report (when a failure that
    shows would show), then plays on as the reactive heuristic (which grows again). Its margin over the reactive
    heuristic bounds what a better failure *detector* adds to that heuristic: the headroom above it
    (``benchmarks/reactive_headroom.py``)."""

    def __init__(self):
        super().__init__()
        self.name = "reactive-reveal"
        self.born = {}

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        slot = self.failed_seed(report, 0)
        if slot is not None:
            return Command.cull(slot), "failed (known to the oracle)"
        return super().decide(report)


class FaultyRevealSubset(RevealOracle):
    """The reveal oracle of the faulty family on the real subset: the subset's ceiling plan, culling failed seeds."""

    def __init__(self):
        super().__init__(Schedule.load(ROOT / CEILINGS["subset"]))


def after_detection(tau: int, max_epochs: int, both: bool, late_slot: int = 0, early_slot: int = 1) -> Schedule:
    """A plan that grows once an event at epoch ``tau`` has shown (the report after ``tau + 1``) plus one epoch
    of delay, at ``tau + 2``: one conv_residual early and one then (``both=False``), or both then."""
    late = (tau + 2) / max_epochs
    first = ScheduledSeed(late if both else 0.0, early_slot, "conv_residual", 1)
    return Schedule((first, ScheduledSeed(late, late_slot, "conv_residual", 1)))


class TaskPlanOracle(RuleAgent):
    """An oracle that plays a plan chosen from the episode's drawn task (:meth:`plan_for`), told it by
    :meth:`bind`."""

    name = "reveal"
    reason = "the plan for this task (known to the oracle)"

    def __init__(self):
        super().__init__()
        self.env = None

    def bind(self, env) -> None:
        self.env = env

    def plan_for(self, config) -> Schedule:
        raise NotImplementedError

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        if self.env is None:
            raise RuntimeError("a reveal oracle plays only where it is told the event: bind(env) first")
        command = self.plan_for(self.env.config).command_at(report)
        return (command, self.reason) if command is not None else (Command.wait(), "")


class AfterEventReveal(TaskPlanOracle):
    """The reveal oracle of an event at a hidden epoch (new classes, a domain shift): told the epoch, it plays
    :func:`after_detection` (``both``: both seeds after the event; otherwise one early, one after)."""

    both = False
    reason = "after the event (known to the oracle)"

    def plan_for(self, config) -> Schedule:
        return after_detection(config.event_epoch, config.max_epochs, self.both)


class AfterEventRevealBoth(AfterEventReveal):
    """Both seeds after the event."""

    both = True


LATE_PLANS = {"no-growth": Schedule(()),
              "late-one": Schedule((ScheduledSeed(2 / 16, 1, "conv_residual", 1),)),
              "late-two": Schedule((ScheduledSeed(2 / 16, 1, "conv_residual", 1),
                                    ScheduledSeed(5 / 16, 0, "conv_residual", 1)))}
"""Hidden capacity demand: plans that act once the first report has shown how the task learns, +1 epoch (epoch 2
of Fast's 16): nothing, one conv_residual, or the ceiling plan two epochs late."""
CAPACITY_PICKS = "benchmarks/results/events/capacity-reveal.json"
"""Per class count, the reveal plan picked on training seeds (written by ``benchmarks/events.py --family
capacity``)."""


class CapacityReveal(TaskPlanOracle):
    """The reveal oracle of hidden capacity demand: told the task's class count, it plays the late plan picked for
    that count on training seeds (:data:`CAPACITY_PICKS`); nothing before epoch 2."""

    reason = "the late plan for this many classes"

    def __init__(self, picks: dict[int, str] | None = None):
        super().__init__()
        if picks is None:
            import json

            picks = {int(k): v for k, v in json.loads((ROOT / CAPACITY_PICKS).read_text()).items()}
        self.picks = picks

    def plan_for(self, config) -> Schedule:
        return LATE_PLANS[self.picks[config.first_classes]]
