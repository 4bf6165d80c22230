"""Whole episodes of random legal and illegal commands never break the env's invariants."""

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper_env.leyline import SeedStage

SMALL = dict(train_size=64, val_size=32, test_size=32, max_epochs=6, host="tiny", blend_epochs=1, embargo_epochs=1)
LIVE = (SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING)


@pytest.fixture(scope="module")
def env():
    return gym.make("Esper-Tiny-v0", **SMALL)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@pytest.mark.slow
@given(seed=st.integers(0, 2**16), actions=st.lists(st.integers(0, 21), min_size=6, max_size=6))
def test_random_command_sequences_keep_the_env_consistent(env, seed, actions):
    u = env.unwrapped
    assert env.action_space.n == 22
    obs, info = env.reset(seed=seed)
    illegal = 0
    for t, action in enumerate(actions):
        legal = bool(info["action_mask"][action])
        illegal += not legal
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["illegal_command"] == (not legal)
        assert np.isfinite(reward) and np.isfinite(obs).all() and env.observation_space.contains(obs)
        r, m = info["report"], u.model
        for slot, sr in zip(m.slots, r.slots):
            assert 0.0 <= slot.alpha <= 1.0 and sr.alpha == slot.alpha and sr.stage == slot.stage
            assert (slot.seed is not None) == (slot.stage in (*LIVE, SeedStage.FOSSILIZED))
            assert sr.seed_params == slot.param_count
        assert r.seed_params == sum(s.param_count for s in m.slots if s.stage in LIVE)
        assert r.fossilized_params == sum(s.param_count for s in m.slots if s.stage == SeedStage.FOSSILIZED)
        assert m.total_params == r.host_params + r.seed_params + r.fossilized_params
        assert terminated == (t == len(actions) - 1) and not truncated
    assert info["final"].illegal_commands == illegal
