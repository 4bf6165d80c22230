"""Rule baselines: no growth, a fixed schedule, uniformly random legal commands, and a static plan played as
written (:class:`ScheduleAgent`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from esper_env.leyline import Command, SeedStage, TrainingReport

from .base import RuleAgent
from .schedule import Schedule, TaskSchedule, load_any


class NoGrowth(RuleAgent):
    """Always WAIT: the fixed host trained for the whole budget."""

    name = "no-growth"

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        return Command.wait(), "never grows"


@dataclass
class FixedScheduleConfig:
    germinate_epoch: int = 5
    """Epoch at which the seed is germinated."""
    slot: int = 1
    """Slot that receives it, as a rank among the slots the env enables (1 = the second enabled position:
    after block 1 with all three, after block 2 on ``Esper-Fast-v0``)."""
    blueprint: str = "conv_residual"
    """Blueprint grown."""
    train_epochs: int = 4
    """TRAINING epochs before blending, after the GERMINATED epoch (so 5 epochs of isolated training in all;
    blending then lasts the env's ``blend_epochs``)."""


class FixedSchedule(RuleAgent):
    """The classic schedule: germinate at a given epoch, isolate N epochs, blend, fossilize."""

    name = "fixed"

    def __init__(self, config: FixedScheduleConfig | None = None):
        super().__init__()
        self.config = config or FixedScheduleConfig()

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        c = self.config
        if c.slot >= len(report.slots):
            return Command.wait(), f"this env enables {len(report.slots)} slot(s); the schedule's slot rank is {c.slot}"
        slot = report.slots[c.slot]
        if slot.stage == SeedStage.DORMANT and report.epoch == c.germinate_epoch:
            return Command.germinate(slot.index, c.blueprint), f"scheduled germination at epoch {c.germinate_epoch}"
        if slot.stage == SeedStage.TRAINING and slot.epochs_in_stage >= c.train_epochs:
            return Command.advance(slot.index), f"isolated for {1 + c.train_epochs} epochs: blend"
        if slot.stage == SeedStage.BLENDING and slot.blend_complete:
            return Command.advance(slot.index), "blend complete: fossilize"
        return Command.wait(), "following the schedule"


class RandomLegal:
    """Uniform over the commands legal now, from a generator seeded at ``reset(seed)``."""

    name = "random"

    def __init__(self, seed: int | None = None):
        self.rng = np.random.default_rng(seed)
        self.last_reason = ""

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def get_state(self) -> dict:
        """The generator's state (plain data), so a resumed episode draws the same commands."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        legal = np.flatnonzero(info["action_mask"])
        self.last_reason = f"random among {len(legal)} legal"
        return int(self.rng.choice(legal))


class ScheduleAgent(RuleAgent):
    """Plays a :class:`Schedule` or a :class:`TaskSchedule` (``schedule:PATH.json`` in ``esper run`` and
    ``esper compare``)."""

    def __init__(self, schedule: Schedule | TaskSchedule, name: str = "schedule"):
        super().__init__()
        self.schedule, self.name = schedule, name

    @classmethod
    def load(cls, path: str | os.PathLike) -> ScheduleAgent:
        return cls(load_any(path), name=Path(path).stem)

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        command = self.schedule.command_at(report)
        if command is None:
            return Command.wait(), "following the schedule"
        return command, f"scheduled: {command}"
