"""PPO on a residual policy (a plan plus a learned deviation, :mod:`agents.residual`), kept residual.

A residual policy's logits are the network's plus ``bonus`` at the plan's command, and the plan reads the
training report, which SB3's rollout buffer does not store. So the plan's command travels *in the observation*
during PPO: :class:`PlanInObservation` appends it as one last entry, :class:`PlanSplit` (the features extractor)
takes it off again, and :class:`ResidualMaskablePolicy` adds the bonus there -- in the rollouts and in every
update, so PPO's ratios are those of the policy that plays. The network itself reads the env's observation, with
the same layers and weights as a plain MaskablePPO ``MlpPolicy``: the fine-tuned file is an ordinary residual
policy file (``policy:PATH.zip``), played by :class:`~agents.policy.ResidualPolicyAgent` exactly as during PPO.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from ..residual import Residual, observe_mask, plan_action, with_bonus


class PlanInObservation(gym.Wrapper):
    """The env's observation (masked to the fields the network reads, for a blind policy) with the plan's command
    at this report appended as a last entry (an action index)."""

    def __init__(self, env: gym.Env, residual: Residual):
        super().__init__(env)
        self.plan = residual.plan
        self.visible = None if residual.observe is None else observe_mask(residual.observe)
        inner = env.observation_space
        n_actions = int(env.action_space.n)
        self.observation_space = spaces.Box(np.append(inner.low, 0.0).astype(np.float32),
                                            np.append(inner.high, n_actions - 1).astype(np.float32),
                                            dtype=np.float32)

    def _with_plan(self, obs: np.ndarray, info: dict) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if self.visible is not None:
            obs = obs * self.visible[:obs.shape[-1]]
        base = plan_action(self.plan, info["report"], np.asarray(info["action_mask"], dtype=bool))
        return np.append(obs, np.float32(base))

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._with_plan(obs, info), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with_plan(obs, info), reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        return self.env.action_masks() if hasattr(self.env, "action_masks") else self.env.unwrapped.action_masks()


class PlanSplit(BaseFeaturesExtractor):
    """Features: the observation without its last entry (the plan's command, kept in :attr:`plan` for the policy
    head of the same forward pass). No parameters, so the policy's weights are a plain ``MlpPolicy``'s."""

    def __init__(self, observation_space: spaces.Box):
        super().__init__(observation_space, features_dim=int(observation_space.shape[0]) - 1)
        self.plan: torch.Tensor | None = None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.plan = obs[:, -1].round().long()
        return obs[:, :-1]


class ResidualMaskablePolicy(MaskableActorCriticPolicy):
    """MaskablePPO's actor-critic with the residual head: logits + ``bonus`` at the plan's command (read from the
    observation's last entry by :class:`PlanSplit`). Every SB3 path -- ``forward`` in rollouts,
    ``evaluate_actions`` in updates, ``get_distribution`` in prediction -- extracts features first and builds the
    distribution from them next, so the head always sees its own batch's plan."""

    def __init__(self, *args, bonus: float = 3.0, **kwargs):
        self.bonus = float(bonus)
        if not kwargs.get("share_features_extractor", True):
            raise ValueError("a residual PPO policy shares its features extractor (the plan travels through it)")
        kwargs["features_extractor_class"] = PlanSplit
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict:
        data = super()._get_constructor_parameters()
        data.update(bonus=self.bonus)
        data.pop("features_extractor_class", None)
        return data

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor):
        plan = self.features_extractor.plan
        if plan is None or plan.shape[0] != latent_pi.shape[0]:
            raise RuntimeError("the residual head needs the plan of the same batch (extract features first)")
        logits = with_bonus(self.action_net(latent_pi), plan, self.bonus)
        return self.action_dist.proba_distribution(action_logits=logits)
