"""Controllers for Esper environments: heuristic Tamiyo, baselines, and learned policies.

Agents see observations, reports and action masks only (never the env's model), so hand-written and
learned controllers are compared on equal terms.
"""

from __future__ import annotations

from esper_env.leyline import ObservationSchema

from .base import (
    Agent,
    EpisodeRecord,
    PolicyAgent,
    RuleAgent,
    SchemaMismatchError,
    StepRecord,
    UntrustedPolicyError,
    load_policy,
    play,
    read_policy_entry,
    read_policy_schema,
    run_episode,
    save_policy,
)
from .baselines import FixedSchedule, FixedScheduleConfig, NoGrowth, RandomLegal
from .tamiyo import HeuristicTamiyo, TamiyoConfig

AGENTS = {"heuristic": HeuristicTamiyo, "no-growth": NoGrowth, "fixed": FixedSchedule, "random": RandomLegal}
"""Built-in controllers by name (``esper run --agent NAME``)."""


def make_agent(name: str, schema: ObservationSchema | None = None, trust: bool = False) -> Agent:
    """A built-in controller by name, or ``policy:PATH.zip`` for a saved MaskablePPO model (checked against
    ``schema``, the env's :class:`~esper_env.leyline.ObservationSchema`, when given)."""
    if name.startswith("policy:"):
        return PolicyAgent.load(name.split(":", 1)[1], expected=schema, trust=trust)
    try:
        return AGENTS[name]()
    except KeyError:
        raise ValueError(f"unknown agent {name!r}; choose one of {sorted(AGENTS)} or policy:PATH.zip") from None


__all__ = ["AGENTS", "Agent", "EpisodeRecord", "FixedSchedule", "FixedScheduleConfig", "HeuristicTamiyo",
           "NoGrowth", "PolicyAgent", "RandomLegal", "RuleAgent", "SchemaMismatchError", "StepRecord", "TamiyoConfig",
           "UntrustedPolicyError", "load_policy", "make_agent", "play", "read_policy_entry", "read_policy_schema",
           "run_episode", "save_policy"]
