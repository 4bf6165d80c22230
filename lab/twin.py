"""A controller's static twin: the plan it plays most often, written as a schedule.

A controller that reads the training report can claim *control* only where it beats a plan written in advance;
the hardest such plan to beat is its own. :func:`plan_of` reads the plan a controller played in one episode from
its record (the commands it gave, epoch by epoch): every seed it grew, when (a fraction of the budget), where (a
slot *rank* among the enabled slots), what, how many TRAINING epochs before blending, and how long it held a
fully blended seed before fossilizing it. :func:`modal_plan` takes the plan played most often over a row's
episodes, and :func:`twin_schedule` writes it as a :class:`~agents.schedule.Schedule` that replays it exactly
wherever the controller played it (tested). ``esper twin`` writes one; ``esper compare --twins ROW`` adds a
``twin:ROW`` row.

A plan that culls a seed has no static twin here (a schedule never culls): it is refused, naming the episodes.

On ``Esper-Mixed-v0`` a twin is one modal plan per task family (:func:`twin_of` with the distribution), each
compared across the family's budgets as the schedule it is (budget fractions and slot ranks), written as a
:class:`~agents.schedule.TaskSchedule`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from agents.schedule import Schedule, ScheduledSeed, TaskSchedule, family_cases

from .records import RunRecord

NEVER = 10_000
"""A twin's TRAINING or hold epochs for a seed its controller never advanced or never fossilized (any budget)."""
_GERMINATE = re.compile(r"^GERMINATE\(slot=(\d+), (\w+)\)$")
_ON_SLOT = re.compile(r"^(ADVANCE|CULL)\(slot=(\d+)\)$")


@dataclass(frozen=True)
class PlannedSeed:
    """One seed of a played plan, in the units a schedule uses."""

    epoch: int
    """The decision at which it was germinated."""
    rank: int
    """Its slot's rank among the env's enabled slots."""
    blueprint: str
    train_epochs: int
    """TRAINING epochs before the ADVANCE to BLENDING (the budget's length + 1 when it never advanced)."""
    hold_epochs: int
    """Epochs it stayed BLENDING after the blend completed (the budget's length when never fossilized)."""


@dataclass(frozen=True)
class Plan:
    """The seeds a controller grew in one episode, and whether it culled any."""

    seeds: tuple[PlannedSeed, ...]
    culls: int = 0

    def describe(self, max_epochs: int) -> str:
        if not self.seeds:
            return "no growth"
        return "; ".join(f"{s.blueprint} at slot rank {s.rank}, epoch {s.epoch}/{max_epochs}, {s.train_epochs} "
                         f"TRAINING epoch(s)" + (f", held {s.hold_epochs}" if s.hold_epochs else "")
                         for s in self.seeds) + (f"; {self.culls} cull(s)" if self.culls else "")


def plan_of(record: RunRecord) -> Plan:
    """The plan ``record``'s controller played (its ``actions`` and its config's slots and budget)."""
    if record.actions is None:
        raise ValueError(f"the record of {record.row or record.agent}, seed {record.seed}, holds no actions; "
                         "rerun the comparison to record them")
    slots, budget = list(record.config["slots"]), int(record.config["max_epochs"])
    blend = int(record.config["blend_epochs"])
    grown: list[dict] = []
    live: dict[int, dict] = {}
    culls = 0
    for epoch, action in enumerate(record.actions):
        if m := _GERMINATE.match(action):
            seed = dict(epoch=epoch, position=int(m.group(1)), blueprint=m.group(2), advanced=None, fossilized=None)
            grown.append(seed)
            live[seed["position"]] = seed
        elif m := _ON_SLOT.match(action):
            seed = live.get(int(m.group(2)))
            if seed is None:
                continue
            if m.group(1) == "CULL":
                culls += 1
                grown.remove(seed)
                del live[seed["position"]]
            elif seed["advanced"] is None:
                seed["advanced"] = epoch
            elif seed["fossilized"] is None:
                seed["fossilized"] = epoch
    seeds = []
    for s in grown:
        train = budget + 1 if s["advanced"] is None else s["advanced"] - s["epoch"] - 1
        hold = budget if s["fossilized"] is None else s["fossilized"] - (s["advanced"] + blend)
        seeds.append(PlannedSeed(s["epoch"], slots.index(s["position"]), s["blueprint"], max(train, 1),
                                 max(hold, 0)))
    return Plan(tuple(seeds), culls)


def modal_plan(records: Iterable[RunRecord]) -> tuple[Plan, list[RunRecord]]:
    """The plan played most often (ties: the one played first in seed order) and the episodes that played it."""
    records = sorted(records, key=lambda r: r.seed)
    if not records:
        raise ValueError("no episodes to read a plan from")
    budgets = {int(r.config["max_epochs"]) for r in records}
    if len(budgets) > 1:
        raise ValueError(f"the episodes have different budgets ({sorted(budgets)}): a twin is read per task; "
                         "give the episodes of one task family")
    plans = [plan_of(r) for r in records]
    counts = Counter(plans)
    best = max(counts, key=lambda p: (counts[p], -plans.index(p)))
    return best, [r for r, p in zip(records, plans) if p == best]


def twin_schedule(plan: Plan, max_epochs: int) -> Schedule:
    """The schedule that plays ``plan`` (germinations at ``epoch / max_epochs``, so ``round(at * max_epochs)`` is
    the same epoch); refused for a plan that culls."""
    if plan.culls:
        raise ValueError(f"the modal plan culls a seed ({plan.describe(max_epochs)}); a schedule never culls, so it "
                         "has no static twin")
    return Schedule(tuple(ScheduledSeed(s.epoch / max_epochs, s.rank, s.blueprint, s.train_epochs, s.hold_epochs)
                          for s in plan.seeds))


def modal_schedule(records: Iterable[RunRecord]) -> tuple[Schedule, list[RunRecord]]:
    """The most common plan over episodes of any budgets, plans compared as the schedules they are (germinations
    in budget fractions, slot ranks); ties: the one played first in seed order. Refused when that plan culls."""
    records = sorted(records, key=lambda r: r.seed)
    if not records:
        raise ValueError("no episodes to read a plan from")
    keys = []
    for r in records:
        plan, budget = plan_of(r), int(r.config["max_epochs"])
        try:  # "never advanced" / "never fossilized" in the same words whatever the budget
            keys.append(Schedule(tuple(replace(s, train_epochs=NEVER if s.train_epochs > budget else s.train_epochs,
                                               hold_epochs=NEVER if s.hold_epochs >= budget else s.hold_epochs)
                                       for s in twin_schedule(plan, budget).seeds)))
        except ValueError:  # a plan that culls: counted, but it has no schedule
            keys.append((plan, budget))
    counts = Counter(keys)
    best = max(counts, key=lambda k: (counts[k], -keys.index(k)))
    if not isinstance(best, Schedule):
        plan, budget = best
        raise ValueError(f"the modal plan culls a seed ({plan.describe(budget)}); a schedule never culls, so it has "
                         "no static twin")
    return best, [r for r, k in zip(records, keys) if k == best]


def twin_of(records: Iterable[RunRecord], tasks=None) -> tuple[Schedule | TaskSchedule, str]:
    """A row's static twin and what it plays, in words. ``tasks`` (an :class:`esper_env.tasks.TaskDistribution`):
    the episodes are of ``Esper-Mixed-v0`` and the twin is one modal plan per family (a family whose modal plan
    culls refuses the whole twin, naming it)."""
    records = list(records)
    if tasks is None:
        plan, played = modal_plan(records)
        budget = int(played[0].config["max_epochs"])
        return twin_schedule(plan, budget), \
            f"{plan.describe(budget)}; played in {len(played)} of {len(records)} episodes"
    by_family: dict[str, list[RunRecord]] = {}
    for r in records:
        by_family.setdefault(tasks.family_of(r.seed), []).append(r)
    own, said = {}, []
    for name in (f.name for f in tasks.families if f.name in by_family):
        try:
            own[name], played = modal_schedule(by_family[name])
        except ValueError as e:
            raise ValueError(f"task family {name!r}: {e}") from None
        desc = "; ".join(f"{s.blueprint} at slot rank {s.slot}, {s.at:.3g} of the budget, {s.train_epochs} TRAINING "
                         "epoch(s)" + (f", held {s.hold_epochs}" if s.hold_epochs else "")
                         for s in own[name].seeds) or "no growth"
        said.append(f"{name}: {desc} ({len(played)} of {len(by_family[name])})")
    return TaskSchedule(family_cases(tasks.families, own)), "one plan per task family — " + " | ".join(said)
