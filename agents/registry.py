"""Controllers by name: the one place a controller's text (``heuristic``, ``policy:PATH.zip``,
``schedule:PATH.json``, ``py:FILE.py:Class`` or ``py:MODULE:Class``, optionally ``NAME=...``) is parsed and checked,
and ``make_agent``.

A ``py:`` controller is the user's own Python code: its file is imported and run as such (trust it as you would any
script you run); its class is built with no arguments and must have ``reset(seed)`` and ``act(observation, info)``
(subclass :class:`~agents.base.RuleAgent` and implement ``decide(report)``).

Every command that takes a controller (``esper run --agent``, ``compare --agents``, ``collect --agent``,
``improve --rollout / --behaviour``) reads it through :class:`ControllerSpec`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from esper_env.leyline import ObservationSchema

from .base import Agent
from .baselines import FixedSchedule, NoGrowth, RandomLegal
from .policy import PolicyAgent
from .reactive import ReactiveTamiyo
from .tamiyo import HeuristicTamiyo

AGENTS = {"heuristic": HeuristicTamiyo, "reactive": ReactiveTamiyo, "no-growth": NoGrowth, "fixed": FixedSchedule,
          "random": RandomLegal}
"""Built-in controllers by name (``esper run --agent NAME``)."""

RULES = tuple(a for a in AGENTS if a != "random")
"""Built-in controllers whose command depends on the current report alone (teachers and rollouts)."""

KINDS = {"policy:": "policy", "schedule:": "schedule", "py:": "python"}
"""Prefixes of controllers read from a file, and their kind."""

_NAMED = re.compile(r"^([A-Za-z0-9_.-]+)=(.+)$")


def split_name(text: str) -> tuple[str, str]:
    """``NAME=CONTROLLER`` -> (NAME, CONTROLLER); a bare controller is its own name (syntax only)."""
    m = _NAMED.match(text)
    return (m.group(1), m.group(2)) if m else (text, text)


CHOICES = "a built-in name ({}), policy:PATH.zip, schedule:PATH.json or py:FILE.py:Class"


@dataclass(frozen=True)
class ControllerSpec:
    """A controller as given on a command line: its row name, its kind and what it names."""

    name: str
    """The row name: NAME in ``NAME=CONTROLLER``, else the controller text itself."""
    controller: str
    """The controller text without its name (``heuristic``, ``policy:runs/bc.zip``...)."""
    kind: str
    """"builtin", "policy", "schedule" or "python"."""
    value: str
    """The built-in name, the file's path, or (python) ``FILE.py:Class`` / ``MODULE:Class``."""

    @classmethod
    def parse(cls, text: str, named: bool = True, what: str = "") -> ControllerSpec:
        """Parse ``text``; ``named`` allows ``NAME=CONTROLLER``; ``what`` (an option's name) starts the error.
        Syntax only: :meth:`check` looks at files."""
        name, controller = split_name(text) if named else (text, text)
        for prefix, kind in KINDS.items():
            if controller.startswith(prefix):
                value = controller[len(prefix):]
                if kind == "python" and not all(value.rpartition(":")[::2]):
                    raise ValueError(f"{what + ': ' if what else ''}{controller!r}: a Python controller is "
                                     "py:FILE.py:Class or py:MODULE:Class (e.g. py:my_controller.py:EarlyGrower)")
                return cls(name, controller, kind, value)
        if controller not in AGENTS:
            said = f"{what}: " if what else ""
            raise ValueError(f"{said}unknown controller {controller!r}; choose "
                             + CHOICES.format(", ".join(sorted(AGENTS)))
                             + (" (optionally named: NAME=CONTROLLER)" if named else ""))
        return cls(name, controller, "builtin", controller)

    @property
    def path(self) -> Path | None:
        """The file this controller is read from (a Python controller's source file); None for a built-in."""
        if self.kind == "python":
            return python_file(self.value.rpartition(":")[0])
        return None if self.kind == "builtin" else Path(self.value)

    def content_key(self) -> str:
        """What decides this controller's behaviour, for cache keys: a built-in's name, a file's kind and hash (and
        a Python controller's class)."""
        if self.path is None:
            return self.controller
        key = f"{self.kind}:" + hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
        return key + ":" + self.value.rpartition(":")[2] if self.kind == "python" else key

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
                raise FileNotFoundError(f"saved policy {self.path}: not found (relative to {Path.cwd()})")
            if schema is not None:
                check_schema(load_policy(self.path)[1].schema, schema, f"policy {self.path}", prefix=True)
        elif self.kind == "python":
            self.make()  # imports, finds the class, builds it

    def make(self, schema: ObservationSchema | None = None, trust: bool = False) -> Agent:
        if self.kind == "policy":
            return PolicyAgent.load(self.value, expected=schema, trust=trust)
        if self.kind == "schedule":
            from .baselines import ScheduleAgent
            return ScheduleAgent.load(self.value)
        if self.kind == "python":
            return python_controller(self.value)
        return AGENTS[self.value]()


def make_agent(name: str, schema: ObservationSchema | None = None, trust: bool = False) -> Agent:
    """A built-in controller by name, ``schedule:PATH.json`` for a static schedule, or ``policy:PATH.zip`` for a
    saved MaskablePPO model (checked against ``schema``, the env's :class:`~esper_env.leyline.ObservationSchema`,
    when given; ``trust`` allows files that only SB3's unpickling loader can read)."""
    return ControllerSpec.parse(name, named=False).make(schema, trust)


def python_file(target: str) -> Path:
    """The source file of a Python controller's ``FILE.py`` or ``MODULE`` (a module is looked for relative to the
    working folder first, then on ``sys.path``)."""
    here = Path.cwd()
    if target.endswith(".py") or os.sep in target:
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"Python controller file {target}: not found (relative to {here})")
        return path
    local = here / Path(*target.split("."))
    for candidate in (local.with_suffix(".py"), local / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(here)
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise FileNotFoundError(f"Python controller module {target!r}: not found ({target.replace('.', '/')}.py "
                                f"relative to {here}, nor an importable module)")
    return Path(spec.origin)


def python_controller(value: str) -> Agent:
    """Import ``FILE.py:Class`` or ``MODULE:Class`` (the user's own code, run as such) and build the class with no
    arguments; refuse, with what to do, a missing class or one that is not a controller."""
    target, _, class_name = value.rpartition(":")
    path = python_file(target)
    module_name = "esper_user_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"{path} has no class {class_name!r}; name a class defined in it (py:{target}:Class)")
    try:
        agent = cls()
    except TypeError as e:
        raise ValueError(f"{path}:{class_name} cannot be built with no arguments ({e}); give its arguments "
                         "defaults") from None
    if not isinstance(agent, Agent):
        raise ValueError(f"{path}:{class_name} is not a controller: it needs reset(seed) and act(observation, "
                         "info), e.g. subclass agents.RuleAgent and implement decide(report)")
    if not getattr(agent, "name", None) or agent.name == "rule":
        agent.name = class_name
    return agent
