"""Built-in controllers by name, and ``make_agent`` (names as ``esper run --agent`` takes them)."""

from __future__ import annotations

from esper_env.leyline import ObservationSchema

from .base import Agent, PolicyAgent
from .baselines import FixedSchedule, NoGrowth, RandomLegal
from .tamiyo import HeuristicTamiyo

AGENTS = {"heuristic": HeuristicTamiyo, "no-growth": NoGrowth, "fixed": FixedSchedule, "random": RandomLegal}
"""Built-in controllers by name (``esper run --agent NAME``)."""


def make_agent(name: str, schema: ObservationSchema | None = None, trust: bool = False) -> Agent:
    """A built-in controller by name, ``schedule:PATH.json`` for a static schedule, or ``policy:PATH.zip`` for a
    saved MaskablePPO model (checked against
    ``schema``, the env's :class:`~esper_env.leyline.ObservationSchema`, when given; ``trust`` allows files
    that only SB3's unpickling loader can read)."""
    if name.startswith("policy:"):
        return PolicyAgent.load(name.split(":", 1)[1], expected=schema, trust=trust)
    if name.startswith("schedule:"):
        from .schedule import ScheduleAgent
        return ScheduleAgent.load(name.split(":", 1)[1])
    try:
        return AGENTS[name]()
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; choose one of {sorted(AGENTS)}, policy:PATH.zip or "
                         "schedule:PATH.json") from None
