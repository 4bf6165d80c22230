"""The one interface every controller implements, and the episode runner.

Controllers see only what a learned policy would: the observation vector, and ``info`` with the
structured Leyline report and the action mask. They never reach into the environment's model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from esper_env.leyline import LAYOUT_CODEC, Command, EpisodeOutcome, LifecycleEvent, TrainingReport


@runtime_checkable
class Agent(Protocol):
    """A controller: ``reset(seed)`` at each episode start, then ``act(observation, info)`` per step."""

    name: str

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int: ...


class RuleAgent:
    """Base for hand-written controllers: ``decide`` returns a command and a reason for the log."""

    name = "rule"

    def __init__(self) -> None:
        self.last_reason = ""

    def reset(self, seed: int | None = None) -> None:
        self.last_reason = ""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        report: TrainingReport = info["report"]
        command, reason = self.decide(report)
        action = LAYOUT_CODEC.encode(command)
        if not info["action_mask"][action]:  # a rule asked for something illegal: say so, do nothing
            command, reason, action = Command.wait(), f"{command} is not legal now ({reason})", 0
        self.last_reason = reason
        return action

    def decide(self, report: TrainingReport) -> tuple[Command, str]:
        raise NotImplementedError


@dataclass(frozen=True)
class StepRecord:
    """One step of an episode: the command given after ``report_before`` and what came of it."""

    epoch: int
    """Epoch at which the command was given (it shapes epoch ``epoch + 1``)."""
    action: int
    command: str
    reason: str
    reward: float
    report: TrainingReport
    """The report after the epoch the command shaped."""
    illegal: bool = False


@dataclass
class EpisodeRecord:
    """A typed record of one episode."""

    agent: str
    seed: int | None
    initial_report: TrainingReport
    steps: list[StepRecord] = field(default_factory=list)
    outcome: EpisodeOutcome | None = None
    """``info["final"]`` of the last step (None while the episode runs)."""

    @property
    def episode_return(self) -> float:
        return float(sum(s.reward for s in self.steps))

    @property
    def history(self) -> tuple[LifecycleEvent, ...]:
        return self.outcome.history if self.outcome is not None else ()


def run_episode(env, agent: Agent, seed: int | None = None, *, options: dict | None = None,
                on_step: Callable[[StepRecord], None] | None = None,
                after_step: Callable[[EpisodeRecord], None] | None = None) -> EpisodeRecord:
    """Play one episode of ``env`` with ``agent``; ``on_step`` is called after every step (for logs),
    ``after_step`` after it (to save a checkpoint)."""
    obs, info = env.reset(seed=seed, options=options)
    agent.reset(seed)
    record = EpisodeRecord(getattr(agent, "name", type(agent).__name__), seed, info["report"])
    return play(env, agent, obs, info, record, on_step=on_step, after_step=after_step)


def play(env, agent: Agent, obs: np.ndarray, info: dict[str, Any], record: EpisodeRecord, *,
         on_step: Callable[[StepRecord], None] | None = None,
         after_step: Callable[[EpisodeRecord], None] | None = None) -> EpisodeRecord:
    """Continue ``record``'s episode from ``(obs, info)`` to its end (used by :func:`run_episode` and to
    resume a restored snapshot); ``after_step`` may save a checkpoint after each step."""
    codec = LAYOUT_CODEC
    done = False
    while not done:
        epoch = info["report"].epoch
        action = int(agent.act(obs, info))
        reason = getattr(agent, "last_reason", "")
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        step = StepRecord(epoch, action, str(codec.decode(action)), reason, float(reward), info["report"],
                          bool(info.get("illegal_command", False)))
        record.steps.append(step)
        if done:
            record.outcome = info.get("final")
        if on_step is not None:
            on_step(step)
        if after_step is not None:
            after_step(record)
    return record
