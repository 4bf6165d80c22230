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

import numpy as np

from esper_env.leyline import LAYOUT_CODEC, Command, TrainingReport

from .schedule import Schedule, TaskSchedule, any_from_json

RESIDUAL_ENTRY = "esper_residual.json"
"""The entry of a residual policy's zip: ``{"base": <schedule data>, "bonus": float}``."""


def residual_entry(base: Schedule | TaskSchedule, bonus: float) -> dict:
    """The JSON of :data:`RESIDUAL_ENTRY` for ``base`` and ``bonus``."""
    if not bonus > 0:
        raise ValueError(f"the residual bonus must be > 0 (the plan's logit head start), got {bonus}")
    return {"base": base.to_json(), "bonus": float(bonus)}


def read_residual(path: str | Path) -> tuple[Schedule | TaskSchedule, float] | None:
    """(plan, bonus) of a residual policy file; None for a plain policy."""
    try:
        with zipfile.ZipFile(path) as z:
            if RESIDUAL_ENTRY not in z.namelist():
                return None
            data = json.loads(z.read(RESIDUAL_ENTRY))
        return any_from_json(data["base"]), float(data["bonus"])
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: malformed residual entry {RESIDUAL_ENTRY} ({type(e).__name__}: {e})") from None


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
