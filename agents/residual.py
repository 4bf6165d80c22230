"""Residual policies: a static plan plus a learned deviation.

A residual policy plays ``argmax(logits(obs) + bonus * onehot(plan's command))`` over the legal commands: the plan
(a :class:`~agents.schedule.Schedule`, or a :class:`~agents.schedule.TaskSchedule` with each kind of task's own
plan; read from the training report) proposes, the network's logits must beat the
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
from pathlib import Path
from typing import NamedTuple

import numpy as np

from esper_env.leyline import LAYOUT_CODEC, Command, TrainingReport, observation_fields

from .schedule import Schedule, TaskSchedule, any_from_json

RESIDUAL_ENTRY = "esper_residual.json"
"""The entry of a residual policy's zip: ``{"base": <schedule data>, "bonus": float}``, and ``"observe": [field,
...]`` for a network that reads only those observation fields (the blind ablation: the others read as 0)."""


class Residual(NamedTuple):
    """What a residual policy file adds to a plain one."""

    plan: Schedule | TaskSchedule
    bonus: float
    observe: tuple[str, ...] | None = None
    """Observation fields the network reads (None: all)."""


def residual_entry(base: Schedule | TaskSchedule, bonus: float, observe: tuple[str, ...] | None = None) -> dict:
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
        return Residual(any_from_json(data["base"]), float(data["bonus"]), observe)
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


def plan_action(plan: Schedule | TaskSchedule, report: TrainingReport, mask: np.ndarray) -> int:
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
