"""Controllers and learners for Esper environments: heuristic Tamiyo, baselines, learned policies, and Simic (how
learned policies are made). The experiment protocol around them (comparisons, tuning, the ledger, the command
line) is :mod:`lab`, which imports this package, never the other way.

Agents see observations, reports and action masks only (never the env's model), so hand-written and
learned controllers are compared on equal terms.

The names below are imported on first use (PEP 562), so that ``esper`` starts without importing torch
before its own error and Ctrl-C handling is in place.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    **dict.fromkeys(("Agent", "EpisodeRecord", "RuleAgent", "StepRecord", "play", "run_episode"), "base"),
    **dict.fromkeys(("PolicyAgent", "ResidualPolicyAgent"), "policy"),
    **dict.fromkeys(("PolicyEntry", "SchemaMismatchError", "UntrustedPolicyError", "load_policy", "read_policy_entry",
                     "read_policy_schema", "save_policy"), "policy_file"),
    **dict.fromkeys(("FixedSchedule", "FixedScheduleConfig", "NoGrowth", "RandomLegal", "ScheduleAgent"), "baselines"),
    **dict.fromkeys(("HeuristicTamiyo", "TamiyoConfig"), "tamiyo"),
    **dict.fromkeys(("ReactiveConfig", "ReactiveTamiyo"), "reactive"),
    **dict.fromkeys(("AGENTS", "ControllerSpec", "make_agent"), "registry"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
