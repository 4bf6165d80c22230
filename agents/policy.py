"""Learned controllers: a saved policy behind the :class:`~agents.base.Agent` protocol, plain or residual.

:meth:`PolicyAgent.load` makes the one choice between them: a file with a residual entry (a static plan plus a
learned deviation, :mod:`agents.residual`) plays as a :class:`ResidualPolicyAgent`, any other as a plain
:class:`PolicyAgent`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from esper_env.leyline import LAYOUT_SCHEMA, ObservationSchema

from .policy_file import TRUST_HINT, UntrustedPolicyError, check_schema, load_policy, read_policy_entry
from .residual import Base, observe_mask, plan_action, read_residual, residual_logits


class PolicyAgent:
    """A trained SB3 / sb3-contrib model behind the :class:`Agent` protocol.

    MaskablePPO models are given the action mask; other algorithms ignore it (the env turns an illegal
    choice into a no-op with a penalty). A policy loaded from a file is checked against the schema of the
    env it plays: at :meth:`load` when one is given, else at the first :meth:`act`.
    """

    def __init__(self, model, name: str = "policy", deterministic: bool = True,
                 schema: ObservationSchema | None = None):
        self.model = model
        self.name = name
        self.deterministic = deterministic
        self.schema = schema
        self.last_reason = ""
        self._checked = schema is None
        self.n_obs = len(schema.fields) if schema is not None else None
        """Entries of the observation the policy reads (an older policy reads the first ones: append-only layout)."""

    @classmethod
    def load(cls, path: str | Path, algo: str = "MaskablePPO", expected: ObservationSchema | None = None,
             trust: bool = False, **kw) -> PolicyAgent:
        """A saved policy. MaskablePPO files written by :func:`save_policy` load as data (JSON + tensors, no
        unpickling); anything else needs ``trust=True``, because SB3's loader unpickles parts of the file."""
        path = Path(path)
        if not path.is_file() and path.with_suffix(".zip").is_file():
            path = path.with_suffix(".zip")
        if not path.is_file():
            raise FileNotFoundError(f"saved policy {path}: not found (relative to {Path.cwd()})")
        entry = read_policy_entry(path)
        schema = entry.schema
        if expected is not None:
            check_schema(schema, expected, f"policy {path}", prefix=True)
        name = kw.pop("name", path.stem)
        if algo == "MaskablePPO" and entry.policy is not None and entry.policy.algo == "MaskablePPO":
            policy, residual = load_policy(path)[0], read_residual(path)
            if residual is not None:  # a static plan plus a learned deviation
                return ResidualPolicyAgent(policy, *residual, name=name, schema=schema, **kw)
            return cls(policy, name=name, schema=schema, **kw)
        if not trust:
            raise UntrustedPolicyError(f"{path}: {TRUST_HINT}")
        if algo == "MaskablePPO":
            from sb3_contrib import MaskablePPO as Algo
        else:
            import stable_baselines3
            try:
                Algo = getattr(stable_baselines3, algo)
            except AttributeError:
                raise ValueError(f"unknown SB3 algorithm {algo!r}") from None
        return cls(Algo.load(str(path), device="cpu"), name=name, schema=schema, **kw)

    def reset(self, seed: int | None = None) -> None:
        self.last_reason = ""

    def _check(self, info: dict[str, Any]) -> None:
        if not self._checked:
            check_schema(self.schema, LAYOUT_SCHEMA, f"policy {self.name!r}", prefix=True)
            self._checked = True

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        self._check(info)
        observation = np.asarray(observation)[..., :self.n_obs]
        kwargs = {}
        if type(self.model).__name__ in ("MaskablePPO", "MaskableActorCriticPolicy"):
            kwargs["action_masks"] = info["action_mask"]
        action, _ = self.model.predict(observation, deterministic=self.deterministic, **kwargs)
        self.last_reason = "policy"
        return int(action)


class ResidualPolicyAgent(PolicyAgent):
    """A saved residual policy: the plan's command unless the network overrules it (greedy)."""

    def __init__(self, model, plan: Base, bonus: float, observe: tuple[str, ...] | None = None,
                 **kw):
        super().__init__(model, **kw)
        self.plan, self.bonus = plan, bonus
        self.visible = None if observe is None else observe_mask(observe)
        """1 where the network reads the observation, 0 where it is masked (the blind ablation); None: all."""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> int:
        import torch

        self._check(info)
        observation = np.asarray(observation)[..., :self.n_obs]
        mask = np.asarray(info["action_mask"], dtype=bool)
        base = plan_action(self.plan, info["report"], mask)
        if self.visible is not None:
            observation = np.asarray(observation, np.float32) * self.visible
        with torch.no_grad():
            obs, _ = self.model.obs_to_tensor(observation)
            logits = residual_logits(self.model, obs, mask[None], [base], self.bonus)[0]
        action = int(torch.argmax(logits))
        self.last_reason = "plan" if action == base else "policy (overrules the plan)"
        return action
