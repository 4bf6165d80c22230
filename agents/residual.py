"""Residual policies: a static plan plus a learned deviation.

A residual policy plays ``argmax(logits(obs) + bonus * onehot(plan's command))`` over the legal commands: the plan
(a :class:`~agents.schedule.Schedule`, a :class:`~agents.schedule.TaskSchedule` with each kind of task's own
plan, or a :class:`RuleBase` -- the reactive heuristic with its thresholds; each read from the training report)
proposes, the network's logits must beat the
plan's command by ``bonus`` to overrule it. A network that has learned nothing (near-zero logits) *is* the plan, so
behaviour cloning only has to learn where the improved teacher deviates from it, not the plan itself -- the part a
handful of labelled episodes could not clone (Simic v3, policy iteration from the static ceiling).

The file is an ordinary saved policy (``policy:PATH.zip`` everywhere) with one more JSON entry,
:data:`RESIDUAL_ENTRY`: the plan (schedule data, never code) and the bonus.
:meth:`agents.policy.PolicyAgent.load` returns a :class:`~agents.policy.ResidualPolicyAgent` for such a file.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

from esper_env.fileio import atomic_path
from esper_env.leyline import LAYOUT_CODEC, Command, TrainingReport, observation_fields

from .reactive import ReactiveConfig, ReactiveTamiyo
from .schedule import Schedule, TaskSchedule, any_from_json, read_json

RULE_FORMAT = "esper-rule-base"
"""The ``format`` of a :class:`RuleBase` file: ``{"format": "esper-rule-base", "version": 1, "rule": "reactive",
"config": {<ReactiveConfig fields>}}``."""


@dataclass(frozen=True)
class RuleBase:
    """The reactive heuristic (agents/reactive.py) as a residual policy's base: its thresholds are data, so the file
    stays data. Stateless: its command is a function of the report, like a plan's."""

    config: ReactiveConfig = field(default_factory=ReactiveConfig)
    rule: str = "reactive"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_agent", ReactiveTamiyo(self.config))

    def command_at(self, report: TrainingReport) -> Command:
        return self._agent.decide(report)[0]

    def save(self, path: str | Path) -> Path:
        """Write the rule base as JSON (atomically); returns the path."""
        with atomic_path(path, suffix=".json") as tmp:
            Path(tmp).write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return Path(path)

    def to_json(self) -> dict:
        return {"format": RULE_FORMAT, "version": 1, "rule": self.rule, "config": asdict(self.config)}

    @classmethod
    def from_json(cls, data: dict) -> RuleBase:
        if data.get("version") != 1 or data.get("rule") != "reactive":
            raise ValueError(f'a rule base must be {{"format": "{RULE_FORMAT}", "version": 1, "rule": "reactive", '
                             f'"config": {{...}}}} (the reactive heuristic is the one rule base), got rule '
                             f'{data.get("rule")!r} version {data.get("version")!r}')
        config = data.get("config", {})
        known = {f.name for f in fields(ReactiveConfig)}
        if not isinstance(config, dict) or set(config) - known:
            raise ValueError(f"rule base config: unknown fields {sorted(set(config) - known)}; ReactiveConfig has "
                             f"{', '.join(sorted(known))}")
        return cls(ReactiveConfig(**config))


Base = Schedule | TaskSchedule | RuleBase
"""What a residual policy is residual to."""


def base_from_json(data) -> Base:
    """A residual base from its JSON data: a rule base, a schedule or a task schedule."""
    if isinstance(data, dict) and data.get("format") == RULE_FORMAT:
        return RuleBase.from_json(data)
    return any_from_json(data)


def load_base(path: str | Path) -> Base:
    """A residual base file (``--residual PLAN.json``): a rule base, a schedule or a task schedule."""
    try:
        return base_from_json(read_json(path))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None

RESIDUAL_ENTRY = "esper_residual.json"
"""The entry of a residual policy's zip: ``{"base": <schedule data>, "bonus": float}``, and ``"observe": [field,
...]`` for a network that reads only those observation fields (the blind ablation: the others read as 0)."""


class Residual(NamedTuple):
    """What a residual policy file adds to a plain one."""

    plan: Base
    bonus: float
    observe: tuple[str, ...] | None = None
    """Observation fields the network reads (None: all)."""


def residual_entry(base: Base, bonus: float, observe: tuple[str, ...] | None = None) -> dict:
    """The JSON of :data:`RESIDUAL_ENTRY` for ``base``, ``bonus`` and (if given) the fields the network reads."""
    if not bonus > 0:
        raise ValueError(f"the residual bonus must be > 0 (the plan's logit head start), got {bonus}")
    return {"base": base.to_json(), "bonus": float(bonus), **({"observe": list(observe)} if observe else {})}


def read_residual(path: str | Path) -> Residual | None:
    """The :class:`Residual` of a residual policy file; None for a plain policy."""
    try:
        with zipfile.ZipFile(path) as z:
            if RESIDUAL_ENTRY not in z.namelist():
                return None
            data = json.loads(z.read(RESIDUAL_ENTRY))
        observe = tuple(str(f) for f in data["observe"]) if "observe" in data else None
        return Residual(base_from_json(data["base"]), float(data["bonus"]), observe)
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: malformed residual entry {RESIDUAL_ENTRY} ({type(e).__name__}: {e})") from None


def observe_mask(observe: tuple[str, ...] | None) -> np.ndarray:
    """1 for the observation entries in ``observe`` (all if None), 0 elsewhere."""
    fields = observation_fields()
    if observe is None:
        return np.ones(len(fields), np.float32)
    unknown = sorted(set(observe) - set(fields))
    if unknown:
        raise ValueError(f"unknown observation fields {unknown}; `esper obs` lists them")
    return np.array([f in observe for f in fields], np.float32)


def plan_action(plan: Base, report: TrainingReport, mask: np.ndarray) -> int:
    """The plan's command at ``report`` as an action index (WAIT when nothing is due or it is not legal)."""
    command = plan.command_at(report)
    action = LAYOUT_CODEC.encode(command if command is not None else Command.wait())
    return action if mask[action] else LAYOUT_CODEC.encode(Command.wait())


def with_bonus(logits, base, bonus: float):
    """Network logits [batch, actions] plus ``bonus`` at each row's plan command ``base``."""
    import torch

    return logits + bonus * torch.nn.functional.one_hot(torch.as_tensor(base, dtype=torch.long), logits.shape[-1])


def residual_logits(policy, obs, mask: np.ndarray, base, bonus: float):
    """The residual policy's logits (illegal commands masked) for a batch: network logits + bonus at ``base``."""
    return with_bonus(policy.get_distribution(obs, action_masks=mask).distribution.logits, base, bonus)
