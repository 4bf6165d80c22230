"""Controllers by name: the one place a controller's text (``heuristic``, ``policy:PATH.zip``,
``schedule:PATH.json``, optionally ``NAME=...``) is parsed and checked, and ``make_agent``.

Every command that takes a controller (``esper run --agent``, ``compare --agents``, ``collect --agent``,
``improve --rollout / --behaviour``) reads it through :class:`ControllerSpec`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from esper_env.leyline import ObservationSchema

from .base import Agent
from .baselines import FixedSchedule, NoGrowth, RandomLegal
from .policy import PolicyAgent
from .tamiyo import HeuristicTamiyo

AGENTS = {"heuristic": HeuristicTamiyo, "no-growth": NoGrowth, "fixed": FixedSchedule, "random": RandomLegal}
"""Built-in controllers by name (``esper run --agent NAME``)."""

RULES = tuple(a for a in AGENTS if a != "random")
"""Built-in controllers whose command depends on the current report alone (teachers and rollouts)."""

KINDS = {"policy:": "policy", "schedule:": "schedule"}
"""Prefixes of controllers read from a file, and their kind."""

_NAMED = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


def split_name(text: str) -> tuple[str, str]:
    """``NAME=CONTROLLER`` -> (NAME, CONTROLLER); a bare controller is its own name (syntax only)."""
    m = _NAMED.match(text)
    return (m.group(1), m.group(2)) if m else (text, text)


CHOICES = "a built-in name ({}), policy:PATH.zip or schedule:PATH.json"


@dataclass(frozen=True)
class ControllerSpec:
    """A controller as given on a command line: its row name, its kind and what it names."""

    name: str
    """The row name: NAME in ``NAME=CONTROLLER``, else the controller text itself."""
    controller: str
    """The controller text without its name (``heuristic``, ``policy:runs/bc.zip``...)."""
    kind: str
    """"builtin", "policy" or "schedule"."""
    value: str
    """The built-in name, or the file's path."""

    @classmethod
    def parse(cls, text: str, named: bool = True, what: str = "") -> ControllerSpec:
        """Parse ``text``; ``named`` allows ``NAME=CONTROLLER``; ``what`` (an option's name) starts the error.
        Syntax only: :meth:`check` looks at files."""
        name, controller = split_name(text) if named else (text, text)
        for prefix, kind in KINDS.items():
            if controller.startswith(prefix):
                return cls(name, controller, kind, controller[len(prefix):])
        if controller not in AGENTS:
            said = f"{what}: " if what else ""
            raise ValueError(f"{said}unknown controller {controller!r}; choose "
                             + CHOICES.format(", ".join(sorted(AGENTS)))
                             + (" (optionally named: NAME=CONTROLLER)" if named else ""))
        return cls(name, controller, "builtin", controller)

    @property
    def path(self) -> Path | None:
        return None if self.kind == "builtin" else Path(self.value)

    @property
    def is_rule(self) -> bool:
        """Decides from the current report alone, so a fresh copy can take over mid-episode (a built-in rule
        controller or a schedule)."""
        return self.kind == "schedule" or self.value in RULES

    def check(self, schema: ObservationSchema | None = None) -> None:
        """Refuse, before any work, a file that is missing, malformed or made for other spaces."""
        if self.kind == "schedule":
            from .schedule import load_any
            load_any(self.value)  # exists and parses (a schedule or a task schedule)
        elif self.kind == "policy":  # loads as data (architecture and tensors) and fits the env
            from .policy_file import check_schema, load_policy

            if not self.path.is_file():
                raise FileNotFoundError(f"no saved policy at {self.path}")
            if schema is not None:
                check_schema(load_policy(self.path)[1].schema, schema, f"policy {self.path}")

    def make(self, schema: ObservationSchema | None = None, trust: bool = False) -> Agent:
        if self.kind == "policy":
            return PolicyAgent.load(self.value, expected=schema, trust=trust)
        if self.kind == "schedule":
            from .baselines import ScheduleAgent
            return ScheduleAgent.load(self.value)
        return AGENTS[self.value]()


def make_agent(name: str, schema: ObservationSchema | None = None, trust: bool = False) -> Agent:
    """A built-in controller by name, ``schedule:PATH.json`` for a static schedule, or ``policy:PATH.zip`` for a
    saved MaskablePPO model (checked against ``schema``, the env's :class:`~esper_env.leyline.ObservationSchema`,
    when given; ``trust`` allows files that only SB3's unpickling loader can read)."""
    return ControllerSpec.parse(name, named=False).make(schema, trust)
