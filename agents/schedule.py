"""Static schedules as data: a JSON file of timed growth commands, played by ``schedule:PATH.json``.

A schedule lists seeds to grow. Each is due at a *fraction* of the budget (epoch ``round(at * max_epochs)``), so
one schedule fits envs of any length; it trains in isolation for ``train_epochs`` TRAINING epochs, is blended in,
and is fossilized once blending completes. The controller decides from the current report alone (like every
built-in rule controller), one command per decision, in this order:

1. an ADVANCE that is due (a scheduled seed's TRAINING epochs are done, or its blend is complete);
2. else the first *pending* germination, in the order listed: its epoch has come (``report.epoch >= epoch``) and
   its slot is DORMANT. So a germination whose epoch coincides with a due ADVANCE happens one decision later,
   not never; one whose slot is still busy waits until it is free (a fossilized slot never is).

``esper tune`` searches this space (:mod:`lab.tune`); the file it writes is a schedule like any other. A file
that names a blueprint the common layout does not have is refused when it is loaded.

    {"format": "esper-schedule", "version": 1,
     "seeds": [{"at": 0.3, "slot": 1, "blueprint": "conv_residual", "train_epochs": 4}]}

A *task schedule* (:class:`TaskSchedule`) holds one schedule per kind of task, told apart by the report's task
description (:class:`~esper_env.leyline.TaskContext`): the first case whose ``when`` matches plays, else
``default``. It is still a plan written in advance, but one that knows the task: on ``Esper-Mixed-v0`` the
"each family's own tuned schedule" row (:func:`family_cases` writes a family's ``when``).

    {"format": "esper-task-schedule", "version": 1,
     "cases": [{"name": "cifar16", "when": {"real_data": true}, "seeds": [...]}], "default": {"seeds": []}}
"""

from __future__ import annotations

import json
import numbers
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from esper_env.fileio import atomic_path
from esper_env.leyline import LAYOUT_BLUEPRINTS, SLOT_POSITIONS, Command, SeedStage, TaskContext, TrainingReport

FORMAT, VERSION = "esper-schedule", 1
TASK_FORMAT = "esper-task-schedule"


@dataclass(frozen=True)
class ScheduledSeed:
    """One seed of a schedule."""

    at: float
    """When to germinate, as a fraction of the budget in [0, 1): epoch ``round(at * max_epochs)``."""
    slot: int
    """The slot, as a rank among the slots the env enables (0 = the earliest enabled position); a rank the
    env does not have is skipped, so one schedule plays on every env."""
    blueprint: str
    """The blueprint grown."""
    train_epochs: int = 4
    """TRAINING epochs before blending (after the GERMINATED epoch)."""
    hold_epochs: int = 0
    """Epochs a fully blended seed stays BLENDING before it is fossilized (0: at once; a static twin copies a
    controller that waited)."""

    def epoch(self, max_epochs: int) -> int:
        return round(self.at * max_epochs)


@dataclass(frozen=True)
class Schedule:
    """A static schedule: the seeds to grow, in the order given."""

    seeds: tuple[ScheduledSeed, ...] = ()

    def __post_init__(self) -> None:
        for s in self.seeds:
            if not isinstance(s.at, numbers.Real) or not 0 <= s.at < 1:
                raise ValueError(f"schedule: at={s.at!r} must be a fraction of the budget in [0, 1)")
            if not isinstance(s.slot, int) or s.slot < 0:
                raise ValueError(f"schedule: slot={s.slot!r} must be an integer >= 0")
            if not isinstance(s.train_epochs, int) or s.train_epochs < 1:
                raise ValueError(f"schedule: train_epochs={s.train_epochs!r} must be an integer >= 1")
            if not isinstance(s.hold_epochs, int) or s.hold_epochs < 0:
                raise ValueError(f"schedule: hold_epochs={s.hold_epochs!r} must be an integer >= 0")
            if s.blueprint not in LAYOUT_BLUEPRINTS:
                raise ValueError(f"schedule: unknown blueprint {s.blueprint!r}; the blueprints are "
                                 f"{', '.join(LAYOUT_BLUEPRINTS)}")

    def to_json(self) -> dict:
        """Plain data; ``hold_epochs`` is written only where it is not 0 (files written before it existed)."""
        seeds = [{k: v for k, v in asdict(s).items() if k != "hold_epochs" or v} for s in self.seeds]
        return {"format": FORMAT, "version": VERSION, "seeds": seeds}

    @classmethod
    def from_json(cls, data: dict) -> Schedule:
        if isinstance(data, dict) and data.get("format") == TASK_FORMAT:
            raise ValueError("a task schedule (one schedule per kind of task) where one schedule is needed; "
                             "give one of its schedules")
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f'not an Esper schedule (expected {{"format": "{FORMAT}", "version": {VERSION}, '
                             '"seeds": [...]})')
        try:
            return cls(tuple(ScheduledSeed(**s) for s in data["seeds"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed schedule seeds ({e}); each needs at, slot, blueprint[, train_epochs, "
                             "hold_epochs]") \
                from None

    def save(self, path: str | os.PathLike) -> Path:
        with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(self.to_json(), f, indent=1)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Schedule:
        try:
            return cls.from_json(read_json(path))
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    def extended(self, at: float = 0.99) -> Schedule:
        """This plan plus an ADVANCE rule after one TRAINING epoch for every other (slot rank, blueprint): on the
        plan's own states it plays exactly as the plan; a branch (or a controller's deviation) that grows some
        other seed has it finished rather than left in TRAINING, since a schedule only advances the seeds it
        names. The extra entries germinate at ``at`` (0.99: an epoch no budget under 50 epochs reaches)."""
        named = {(s.slot, s.blueprint) for s in self.seeds}
        extra = tuple(ScheduledSeed(at, r, b, 1) for r in range(SLOT_POSITIONS) for b in LAYOUT_BLUEPRINTS
                      if (r, b) not in named)
        return Schedule(self.seeds + extra)

    def command_at(self, report: TrainingReport) -> Command | None:
        """The schedule's command at ``report`` (None: nothing scheduled now)."""
        for s in self.seeds:
            if s.slot >= len(report.slots):
                continue
            slot = report.slots[s.slot]
            if slot.stage == SeedStage.TRAINING and slot.blueprint == s.blueprint \
                    and slot.epochs_in_stage >= s.train_epochs:
                return Command.advance(slot.index)
            if slot.stage == SeedStage.BLENDING and slot.blend_complete and (
                    s.hold_epochs == 0 or slot.epochs_in_stage >= report.task.blend_epochs + s.hold_epochs):
                return Command.advance(slot.index)
        for s in self.seeds:  # the first pending germination (its epoch has come, its slot is free)
            if s.slot < len(report.slots) and report.slots[s.slot].stage == SeedStage.DORMANT \
                    and report.epoch >= s.epoch(report.max_epochs) and s.blueprint in report.blueprints:
                return Command.germinate(report.slots[s.slot].index, s.blueprint)
        return None


def read_json(path: str | os.PathLike):
    """A plan file's JSON data (clear errors for a missing or unreadable file)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"schedule file {path}: not found (relative to {Path.cwd()}); "
                                f"write one or run `esper tune`") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a readable schedule file ({type(e).__name__}: {e})") from None


CONTEXT_FIELDS = tuple(f.name for f in fields(TaskContext))
"""What a task schedule's ``when`` may name."""


@dataclass(frozen=True)
class TaskCase:
    """One kind of task and its schedule."""

    name: str
    """What the case is (a task family's name, say); shown in the controller's reasons."""
    when: tuple[tuple[str, object], ...]
    """(TaskContext field, value) pairs a task must all have."""
    schedule: Schedule

    def __post_init__(self) -> None:
        unknown = [k for k, _ in self.when if k not in CONTEXT_FIELDS]
        if unknown:
            raise ValueError(f"task schedule case {self.name!r}: `when` names {unknown}, which the report's task "
                             f"does not have; use {', '.join(CONTEXT_FIELDS)}")

    def matches(self, task: TaskContext) -> bool:
        return all(getattr(task, k) == v for k, v in self.when)


@dataclass(frozen=True)
class TaskSchedule:
    """One schedule per kind of task (see the module docstring); ``schedule:PATH.json`` plays it like a schedule."""

    cases: tuple[TaskCase, ...]
    default: Schedule = Schedule()
    """Played on a task no case matches."""

    def schedule_for(self, task: TaskContext) -> tuple[str, Schedule]:
        case = next((c for c in self.cases if c.matches(task)), None)
        return (case.name, case.schedule) if case else ("default", self.default)

    def command_at(self, report: TrainingReport) -> Command | None:
        return self.schedule_for(report.task)[1].command_at(report)

    def to_json(self) -> dict:
        cases = [{"name": c.name, "when": dict(c.when), "seeds": c.schedule.to_json()["seeds"]} for c in self.cases]
        return {"format": TASK_FORMAT, "version": VERSION, "cases": cases,
                "default": {"seeds": self.default.to_json()["seeds"]}}

    @classmethod
    def from_json(cls, data: dict) -> TaskSchedule:
        def schedule(d: dict) -> Schedule:
            return Schedule.from_json({"format": FORMAT, "version": VERSION, "seeds": d.get("seeds", [])})

        if not isinstance(data, dict) or data.get("format") != TASK_FORMAT or data.get("version") != VERSION:
            raise ValueError(f'not an Esper task schedule (expected {{"format": "{TASK_FORMAT}", "version": {VERSION}, '
                             '"cases": [...]}})')
        try:
            cases = tuple(TaskCase(str(c["name"]), tuple(dict(c["when"]).items()), schedule(c))
                          for c in data["cases"])
            return cls(cases, schedule(data.get("default", {})))
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"malformed task schedule ({type(e).__name__}: {e}); each case needs name, when "
                             "(TaskContext fields) and seeds") from None

    def save(self, path: str | os.PathLike) -> Path:
        with atomic_path(path, suffix=".json") as tmp, open(tmp, "w") as f:
            json.dump(self.to_json(), f, indent=1)
        return Path(path)


def any_from_json(data) -> Schedule | TaskSchedule:
    """A schedule of either kind from its JSON data."""
    if isinstance(data, dict) and data.get("format") == TASK_FORMAT:
        return TaskSchedule.from_json(data)
    return Schedule.from_json(data)


def load_any(path: str | os.PathLike) -> Schedule | TaskSchedule:
    """A schedule file of either kind (what ``schedule:PATH.json`` plays)."""
    data = read_json(path)
    try:
        return any_from_json(data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def distinct_files(files: dict[str, os.PathLike]) -> dict[str, os.PathLike]:
    """``files`` (name -> schedule file) less those whose schedule an earlier one already is, in order: each plan
    is played once."""
    seen, kept = set(), {}
    for name, path in files.items():
        schedule = Schedule.load(path)
        if schedule not in seen:
            seen.add(schedule)
            kept[name] = path
    return kept


def family_cases(families, schedules: dict[str, Schedule]) -> tuple[TaskCase, ...]:
    """A case per task family (:class:`esper_env.tasks.TaskFamily`) of ``schedules``: ``when`` is what the report
    says of every task the family draws (real or synthetic images; the image size, where it draws one). Refuses
    families the report cannot tell apart."""
    by_name = {f.name: f for f in families}
    cases = []
    for name, schedule in schedules.items():
        if name not in by_name:
            raise ValueError(f"no task family {name!r}; the families are {', '.join(by_name)}")
        f = by_name[name]
        when = {"real_data": f.base.dataset == "cifar10"}
        if len(f.image_sizes) == 1:
            when["image_size"] = int(f.image_sizes[0])
        cases.append(TaskCase(name, tuple(when.items()), schedule))
    for i, a in enumerate(cases):
        for b in cases[i + 1:]:
            if dict(a.when) == dict(b.when):
                raise ValueError(f"task families {a.name!r} and {b.name!r} look the same in the report "
                                 f"({dict(a.when)}): a task schedule cannot tell them apart")
    return tuple(cases)
