import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

import esper_env
from esper_env import leyline as ly
from esper_env.leyline import Command, SeedStage

TINY = dict(train_size=128, val_size=64, test_size=64, max_epochs=3, host="tiny", batch_size=32)


def make(env_id="Esper-Tiny-v0", **kw):
    return gym.make(env_id, **kw)


def codec(env):
    return env.unwrapped.codec


@pytest.mark.parametrize("env_id", esper_env.ENV_IDS)
def test_check_env_no_warnings(env_id, request):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    kw = dict(TINY)
    if env_id == "Esper-CIFAR10-v0":  # real images: the shared subset, skipped when absent
        kw["data_root"] = str(request.getfixturevalue("subset_root"))
    env = make(env_id, **kw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check(env.unwrapped)
        sb3_check(env.unwrapped, warn=True)
    assert [str(w.message) for w in caught] == []


def test_registered_without_prior_import():
    code = ("import gymnasium as gym; env = gym.make('esper_env:Esper-Tiny-v0', train_size=64, val_size=32, "
            "test_size=32); print(type(env.unwrapped).__name__, sorted(i for i in gym.registry if 'Esper' in i))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("EsperEnv") and all(i in out for i in esper_env.ENV_IDS)


def test_cifar_id_offline_error_is_clear(tmp_path):
    from esper_env.data import DatasetError
    with pytest.raises(DatasetError, match="data_root"):
        make("Esper-CIFAR10-v0", data_root=str(tmp_path))


def trajectory(seed, actions, **kw):
    env = make(**{**TINY, "max_epochs": len(actions), **kw})
    obs, info = env.reset(seed=seed)
    out = [obs]
    rewards = []
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append(obs)
        rewards.append(r)
    return np.stack(out), np.array(rewards), info


def test_determinism_same_seed_same_actions():
    env = make(**TINY)
    c = codec(env)
    actions = [c.encode(Command.germinate(1, "conv_residual")), 0, c.encode(Command.advance(1)), 0]
    o1, r1, i1 = trajectory(7, actions)
    o2, r2, i2 = trajectory(7, actions)
    o3, _, _ = trajectory(8, actions)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(r1, r2)
    assert i1["final"] == i2["final"]
    assert not np.array_equal(o1, o3)


def test_masked_command_is_a_noop_with_penalty():
    actions_wait = [0, 0]
    env = make(**TINY)
    illegal = codec(env).encode(Command.advance(0))  # nothing to advance
    obs_w, rew_w, _ = trajectory(3, actions_wait, illegal_penalty=0.25)
    obs_i, rew_i, info = trajectory(3, [illegal, 0], illegal_penalty=0.25)
    np.testing.assert_array_equal(obs_w, obs_i)  # same training, same reports
    assert rew_i[0] == pytest.approx(rew_w[0] - 0.25)
    env.reset(seed=3)
    assert not env.unwrapped.action_masks()[illegal]
    _, _, _, _, info = env.step(illegal)
    assert info["illegal_command"] and info["reward_terms"]["illegal_penalty"] == 0.01
    assert not info["action_mask"][illegal]


@pytest.mark.parametrize("bad", [-1, 22, 1.5, "3", None, [1, 2]])
def test_out_of_space_action_raises_clearly(bad):
    env = make(**TINY)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside the action space"):
        env.unwrapped.step(bad)
    env.unwrapped.step(np.int64(0))  # numpy integers are fine


def test_reward_terms_and_terminal_info():
    env = make(**{**TINY, "max_epochs": 4, "rent_coef": 0.5})
    c = codec(env)
    obs, info = env.reset(seed=1)
    assert info["report"].epoch == 0 and info["action_mask"][0]
    total, prev = 0.0, info["report"].val_accuracy
    for a in [c.encode(Command.germinate(0, "lowrank")), 0, 0, 0]:
        obs, r, term, trunc, info = env.step(a)
        t = info["reward_terms"]
        assert r == pytest.approx(t["val_accuracy_delta"] - t["rent"] - t["illegal_penalty"])
        assert t["val_accuracy_delta"] == pytest.approx(info["report"].val_accuracy - prev)
        prev = info["report"].val_accuracy
        total += r
    assert term and not trunc
    with pytest.raises(RuntimeError, match="call reset"):
        env.unwrapped.step(0)
    rep = info["report"]
    assert rep.slots[0].stage == SeedStage.TRAINING and rep.seed_params > 0
    expected_rent = 0.5 * rep.seed_params / rep.host_params / 4
    assert t["rent"] == pytest.approx(expected_rent)
    final = info["final"]
    assert isinstance(final, ly.EpisodeOutcome)
    assert 0 <= final.test_accuracy <= 1 and final.flops_per_image > 0
    assert final.history[0] == ly.LifecycleEvent(0, 0, SeedStage.GERMINATED, "lowrank", ly.EventCause.COMMAND)
    assert final.live_seeds == (ly.SeedOutcome(0, "lowrank", SeedStage.TRAINING, 0.0),)
    assert final.architecture == ()
    summary = final.summary()
    assert summary["seeds_germinated"] == 1 and summary["added_params"] == rep.seed_params
    assert all(isinstance(v, (int, float)) for v in summary.values())
    assert final.train_flops == rep.train_flops > 0 and final.eval_flops == rep.eval_flops > 0


def test_nonfinite_loss_ends_episode_with_penalty():
    env = make(**{**TINY, "lr": 1e6, "max_epochs": 5, "nonfinite_penalty": 2.0})
    env.reset(seed=0)
    for _ in range(5):
        obs, r, term, trunc, info = env.step(0)
        if term:
            break
    assert term and info["nonfinite"] and r == pytest.approx(-2.0 - info["reward_terms"]["rent"])
    assert np.isfinite(obs).all() and "final" in info


def test_reset_with_fossilized_architecture():
    env = make(**TINY)
    obs, info = env.reset(seed=0, options={"fossilized": {"2": "conv_residual"}})
    rep = info["report"]
    assert rep.slots[2].stage == SeedStage.FOSSILIZED and rep.fossilized_params > 0
    assert not info["action_mask"][codec(env).encode(Command.germinate(2, "norm"))]
    obs, r, *_ = env.step(0)
    assert env.observation_space.contains(obs)


def test_lr_schedule_decays():
    env = make(**{**TINY, "max_epochs": 4})
    env.reset(seed=0)
    lrs = [env.step(0)[4]["report"].lr for _ in range(4)]
    assert lrs[0] == pytest.approx(env.unwrapped.config.lr) and all(b < a for a, b in zip(lrs, lrs[1:]))


@pytest.mark.slow
def test_maskable_ppo_trains_on_tiny():
    """SB3's MaskablePPO runs on the env as it is and updates its policy (whether it *learns* to grow well is what
    benchmarks/simic.py measures)."""
    import torch
    from sb3_contrib import MaskablePPO
    env = make(**{**TINY, "train_size": 64, "val_size": 32, "test_size": 32})
    model = MaskablePPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=192)
    after = list(model.policy.parameters())
    assert model.num_timesteps >= 192 and model._n_updates >= 2
    assert any(not torch.equal(a, b) for a, b in zip(after, before))  # the updates changed the policy
    assert all(torch.isfinite(p).all() for p in after)


@pytest.mark.slow
def test_subproc_vec_env_two_envs(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one torch thread per worker: 2 workers x 2 threads thrash 2 cores
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv
    kw = {**TINY, "train_size": 64, "val_size": 32, "test_size": 32}
    # Worker processes have not imported esper_env: the "module:" prefix makes gym.make import it there.
    vec = make_vec_env("esper_env:Esper-Tiny-v0", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv, env_kwargs=kw,
                       vec_env_kwargs={"start_method": "spawn"})
    try:
        model = MaskablePPO("MlpPolicy", vec, n_steps=48, batch_size=32, n_epochs=2, seed=0, device="cpu")
        model.learn(total_timesteps=192)
        assert model.num_timesteps >= 192
    finally:
        vec.close()
