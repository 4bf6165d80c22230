"""Faults: a worker process that dies, a non-finite loss inside vectorized and PPO runs."""

import json

import gymnasium as gym
import numpy as np
import pytest

from agents.parallel import CRASH_VAR
from agents.simic import CollectConfig, collect, load
from lab.compare import CompareConfig, run_comparison

SMALL = dict(train_size=64, val_size=32, test_size=32, max_epochs=3, host="tiny", blend_epochs=1)


@pytest.mark.slow
def test_a_compare_worker_that_dies_is_reported_and_the_rest_completes(tmp_path, monkeypatch):
    cfg = CompareConfig("Esper-Tiny-v0", dict(SMALL), rows=("no-growth", "random"), seeds=(0, 1), scratch=False,
                        out=tmp_path, workers=2)
    monkeypatch.setenv(CRASH_VAR, "random:1")  # that run's worker process exits at once, every time
    comp = run_comparison(cfg, progress=False)
    assert comp.failed and comp.failed[0].startswith("random, seed 1")
    assert [r.seed for r in comp.rows["no-growth"]] == [0, 1] and [r.seed for r in comp.rows["random"]] == [0]
    assert "Failed runs" in (tmp_path / "table.md").read_text()
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3
    from lab.cli import main
    args = ["compare", "--env", "Esper-Tiny-v0", "--agents", "no-growth", "random", "--seeds", "0", "1",
            "--no-scratch", "--workers", "2", "--out", str(tmp_path), "--quiet",
            *(x for k, v in SMALL.items() for x in ("--set", f"{k}={v}"))]
    assert main(args) == 1  # the command line says a run failed (README: exit code 1), the rest is on disk
    monkeypatch.delenv(CRASH_VAR)
    comp = run_comparison(cfg, progress=False)  # the rerun does only the missing run
    assert not comp.failed and [r.seed for r in comp.rows["random"]] == [0, 1]


@pytest.mark.slow
def test_a_collect_worker_that_dies_is_reported_and_the_rest_is_saved(tmp_path, monkeypatch):
    out = tmp_path / "d.npz"
    cfg = CollectConfig("Esper-Tiny-v0", dict(SMALL), seeds=(1000, 1001, 1002), out=out, workers=2)
    monkeypatch.setenv(CRASH_VAR, "collect:1001")
    demos = collect(cfg, progress=False)
    assert demos.failed == [1001] and sorted(load(out).episodes) == [1000, 1002]
    monkeypatch.delenv(CRASH_VAR)
    assert sorted(collect(cfg, progress=False).episodes) == [1000, 1001, 1002]


def test_a_vectorized_run_keeps_going_after_a_non_finite_loss():
    from stable_baselines3.common.vec_env import DummyVecEnv

    bad = dict(SMALL, lr=1e6, nonfinite_penalty=2.0)  # diverges in the first epoch
    venv = DummyVecEnv([lambda: gym.make("Esper-Tiny-v0", **bad), lambda: gym.make("Esper-Tiny-v0", **SMALL)])
    venv.reset()
    ended: list[list[bool]] = [[], []]
    for _ in range(6):
        obs, rewards, dones, infos = venv.step(np.zeros(2, dtype=np.int64))
        assert np.isfinite(obs).all() and np.isfinite(rewards).all()
        for k in range(2):
            if dones[k]:
                ended[k].append(infos[k]["nonfinite"])
    assert len(ended[0]) >= 2 and all(ended[0])  # the diverging env ends episodes early, is reset, goes on
    assert ended[1] == [False, False]  # the healthy one finishes its 3-epoch episodes normally


def test_a_ppo_run_keeps_going_through_non_finite_episodes(tmp_path):
    import gymnasium as gym  # noqa: F811
    from sb3_contrib import MaskablePPO

    from agents import save_policy
    from agents.simic import PPOConfig, train_ppo

    env = gym.make("Esper-Tiny-v0", **SMALL)
    init = save_policy(MaskablePPO("MlpPolicy", env, seed=0, device="cpu"), tmp_path / "init.zip",
                       env.unwrapped.schema)
    cfg = PPOConfig(init=init, env_id="Esper-Tiny-v0", overrides=dict(SMALL, lr=1e6), timesteps=8,
                    out=tmp_path / "ppo", n_envs=1, n_steps=4, batch_size=4, n_epochs=1)
    train_ppo(cfg, progress=False)
    state = json.loads((tmp_path / "ppo" / "checkpoint.json").read_text())
    assert state["timesteps"] == 8 and state["episodes_done"][0] >= 3  # healthy 3-step episodes: at most 2
