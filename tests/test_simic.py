"""Simic on the tiny preset: collect -> bc -> ppo -> save -> load -> act -> compare, and the file contracts."""

import json
from dataclasses import replace

import numpy as np
import pytest

from agents import SchemaMismatchError, make_agent, run_episode
from agents.simic import BCConfig, CollectConfig, DatasetError, PPOConfig, behaviour_clone, collect, load, train_ppo
from agents.simic.bc import class_weights, discounted_returns
from lab.cli import main as cli_main

ENV = "Esper-Tiny-v0"
SMALL = dict(train_size=128, val_size=64, test_size=64, max_epochs=10, blend_epochs=1)
SEEDS = (1000, 1001, 1002, 1003, 1004)


def arrays_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def demos_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("simic") / "demos.npz"
    collect(CollectConfig(ENV, dict(SMALL), seeds=SEEDS, explore=0.3, out=out, workers=2), progress=False)
    return out


def test_collection_labels_every_state_and_explores(demos_file):
    demos = load(demos_file)
    a = demos.arrays()
    assert sorted(demos.episodes) == list(SEEDS)
    assert len(a["action"]) == len(SEEDS) * SMALL["max_epochs"]
    assert a["mask"][np.arange(len(a["action"])), a["action"]].all()  # executed commands were legal
    assert a["mask"][np.arange(len(a["teacher"])), a["teacher"]].all()  # so were the teacher's labels
    explored = a["action"] != a["teacher"]
    assert 0 < explored.mean() < 0.6
    assert len(np.unique(a["teacher"])) >= 2  # the teacher did more than WAIT
    assert demos.meta["env_id"] == ENV and demos.meta["config"]["max_epochs"] == SMALL["max_epochs"]
    assert demos.meta["schema"]["obs_version"] >= 2 and "machine" in demos.meta
    ep = demos.episodes[SEEDS[0]]
    assert np.allclose(ep.reward.sum(), a["episode_return"][0], atol=1e-6)  # rewards add up to the return


def test_each_label_is_what_a_fresh_heuristic_decides_at_that_state(demos_file):
    """The heuristic is stateless, so replaying an episode's executed commands and asking a *new* HeuristicTamiyo
    at every state gives back the recorded teacher labels (and the recorded observations)."""
    import gymnasium as gym
    import torch

    from agents import HeuristicTamiyo

    ep = load(demos_file).episodes[SEEDS[0]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the collecting worker ran: the same floats
    try:
        env = gym.make(ENV, **SMALL)
        obs, info = env.reset(seed=SEEDS[0])
        for t, action in enumerate(ep.action):
            np.testing.assert_array_equal(obs, ep.obs[t])
            assert HeuristicTamiyo().act(obs, info) == ep.teacher[t], f"step {t}"
            obs, _, _, _, info = env.step(int(action))
    finally:
        torch.set_num_threads(threads)
    assert len(ep.action) == SMALL["max_epochs"]


@pytest.mark.slow
def test_collection_does_not_depend_on_workers_or_interruption(demos_file, tmp_path):
    full = load(demos_file).arrays()
    out = tmp_path / "d.npz"
    cfg = CollectConfig(ENV, dict(SMALL), seeds=SEEDS[:2], explore=0.3, out=out, workers=1)
    collect(cfg, progress=False)  # "interrupted" after two episodes
    first = load(out).arrays()
    collect(replace(cfg, seeds=SEEDS), progress=False)  # continued, one worker
    resumed = load(out).arrays()
    assert arrays_equal(resumed, full)
    assert np.array_equal(first["obs"], full["obs"][:len(first["obs"])])
    with pytest.raises(DatasetError, match="other settings"):
        collect(replace(cfg, explore=0.1), progress=False)


def test_dataset_files_are_checked(demos_file, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match="bad.npz"):
        load(bad)
    with pytest.raises(DatasetError, match="esper collect"):
        load(tmp_path / "missing.npz")
    # A dataset for other observations is refused with what differs.
    demos = load(demos_file)
    demos.meta["schema"]["fields"] = demos.meta["schema"]["fields"][:-1] + ["something_else"]
    other = demos.save(tmp_path / "other.npz")
    with pytest.raises(SchemaMismatchError, match="something_else"):
        behaviour_clone(BCConfig(data=other, out=tmp_path / "p.zip", epochs=1), progress=False)
    # Data only: a pickled object array is refused, not unpickled.
    np.savez(tmp_path / "pickled.npz", meta=np.array([{"x": 1}], dtype=object))
    with pytest.raises(DatasetError):
        load(tmp_path / "pickled.npz")


def test_bc_joins_more_files_each_split_alike(demos_file, tmp_path):
    demos = load(demos_file)
    demos.episodes = {s + 100: replace(e, seed=s + 100) for s, e in demos.episodes.items()}
    second = demos.save(tmp_path / "second.npz")
    _, _, report = behaviour_clone(BCConfig(data=demos_file, also=(second,), out=tmp_path / "p.zip", epochs=1),
                                   progress=False)
    assert (report.train_episodes, report.held_out_episodes) == (8, 2)  # each file of 5 holds out its 5th
    assert report.data_meta["env_id"] == ENV and report.data_meta["also"][0]["env_id"] == ENV
    assert json.loads((tmp_path / "p.json").read_text())["config"]["also"] == [str(second)]
    demos.meta["schema"]["fields"] = demos.meta["schema"]["fields"][:-1] + ["something_else"]
    other = demos.save(tmp_path / "other.npz")
    with pytest.raises(SchemaMismatchError, match="other.npz"):
        behaviour_clone(BCConfig(data=demos_file, also=(other,), out=tmp_path / "q.zip", epochs=1), progress=False)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        BCConfig(data=demos_file, also=(tmp_path / "missing.npz",)).check()


def test_bc_helpers():
    assert np.allclose(discounted_returns(np.array([1.0, 0.0, 2.0]), 0.5), [1.5, 1.0, 2.0])
    import torch
    w = class_weights(torch.tensor([0, 0, 0, 1]), 3, 1.0)
    assert w[2] == 0 and w[1] > w[0] and torch.isclose((w[torch.tensor([0, 0, 0, 1])]).mean(), torch.tensor(1.0))


def test_sharpen_keeps_the_most_likely_command(demos_file):
    import gymnasium as gym
    import torch
    from sb3_contrib import MaskablePPO

    from agents.simic.bc import _tensors, mean_entropy, sharpen

    demos = load(demos_file)
    obs, mask, _, _ = _tensors(list(demos.episodes.values()), 1.0)
    env = gym.make(ENV, **SMALL)
    policy = MaskablePPO("MlpPolicy", env, seed=0, device="cpu").policy  # initialised near uniform
    policy.set_training_mode(False)
    with torch.no_grad():
        before = policy.get_distribution(obs, action_masks=mask.numpy()).mode()
        values = policy.predict_values(obs)
    assert mean_entropy(policy, obs, mask) > 0.5
    k = sharpen(policy, obs, mask, 0.1)
    assert k > 1 and 0.09 < mean_entropy(policy, obs, mask) <= 0.1
    with torch.no_grad():
        assert torch.equal(policy.get_distribution(obs, action_masks=mask.numpy()).mode(), before)
        assert torch.equal(policy.predict_values(obs), values)
    assert sharpen(policy, obs, mask, 5.0) == 1.0  # already below: left as it is


@pytest.mark.slow
def test_collect_bc_ppo_load_act_compare_end_to_end(demos_file, tmp_path):
    from lab.compare import CompareConfig, run_comparison

    bc_path = tmp_path / "bc.zip"
    model, held, report = behaviour_clone(BCConfig(data=demos_file, out=bc_path, epochs=300), progress=False)
    assert bc_path.is_file() and json.loads(bc_path.with_suffix(".json").read_text())["held_out"]["steps"] == held.steps
    assert held.steps == SMALL["max_epochs"]  # one of five episodes held out
    assert report.train.accuracy >= 0.9  # it fits what it was trained on
    assert set(held.recall_by_kind) <= {"WAIT", "GERMINATE", "ADVANCE", "CULL"}

    out = tmp_path / "ppo"
    cfg = PPOConfig(init=bc_path, env_id=ENV, overrides=dict(SMALL), timesteps=10, out=out, n_envs=1, n_steps=5,
                    batch_size=5, n_epochs=1, vf_warmup_updates=1)
    train_ppo(cfg, progress=False)
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["updates"] == 2 and state["timesteps"] == 10 and state["episodes_done"] == [1]
    assert (out / "final.zip").is_file() and list((out / "tensorboard").glob("ppo_1/events.*"))
    assert (out / "curves.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="--resume"):
        train_ppo(cfg, progress=False)
    train_ppo(replace(cfg, timesteps=20), resume=True, progress=False)
    state = json.loads((out / "checkpoint.json").read_text())
    assert state["timesteps"] == 20 and state["updates"] == 4
    assert sorted(p.name for p in (out / "tensorboard").iterdir()) == ["ppo_1"]  # the same curve continued

    import gymnasium as gym
    env = gym.make(ENV, **SMALL)
    agent = make_agent(f"policy:{out / 'final.zip'}", schema=env.unwrapped.schema)
    record = run_episode(env, agent, seed=3)
    assert record.outcome is not None and len(record.steps) == SMALL["max_epochs"]

    comp = run_comparison(CompareConfig(ENV, dict(SMALL), rows=("no-growth", f"policy:{bc_path}",
                                                                 f"policy:{out / 'final.zip'}"),
                                        seeds=(0, 1), scratch=False, out=tmp_path / "cmp", workers=2), progress=False)
    assert len(comp.rows) == 3 and all(len(r) == 2 for r in comp.rows.values())


def test_cli_simic_commands(demos_file, tmp_path, capsys):
    assert cli_main(["bc", "--data", str(demos_file), "--out", str(tmp_path / "p.zip"), "--epochs", "2",
                     "--quiet"]) == 0
    assert "balanced accuracy" in capsys.readouterr().out
    assert cli_main(["bc", "--data", str(demos_file), "--out", str(tmp_path / "s.zip"), "--epochs", "2",
                     "--sharpen-entropy", "0.05", "--quiet"]) == 0
    assert "nats (logits x" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["entropy"]["sharpened"] <= 0.05
    assert cli_main(["bc", "--data", str(demos_file), "--sharpen-entropy", "0"]) == 2
    assert "--sharpen-entropy" in capsys.readouterr().err
    assert cli_main(["bc", "--data", str(tmp_path / "none.npz")]) == 2
    assert "esper collect" in capsys.readouterr().err
    assert cli_main(["collect", "--env", "Esper-Nope-v0", "--out", str(tmp_path / "x.npz")]) == 2
    assert "unknown env id" in capsys.readouterr().err
    assert cli_main(["collect", "--env", ENV, "--agent", "random", "--out", str(tmp_path / "x.npz")]) == 2
    assert "teacher" in capsys.readouterr().err
    assert cli_main(["ppo", "--env", ENV, "--out", str(tmp_path / "r")]) == 2
    assert "--init" in capsys.readouterr().err
    assert cli_main(["ppo", "--init", str(tmp_path / "p.zip"), "--env", ENV, "--ppo", "lr=1", "--out",
                     str(tmp_path / "r")]) == 2
    assert "unknown --ppo setting" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "r").exists()


def test_torch_threads_sets_the_count_inside_and_restores_it_after_an_error():
    import torch

    from agents.simic.threads import torch_threads

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with pytest.raises(KeyError):
        with torch_threads(other):
            assert torch.get_num_threads() == other
            raise KeyError("inside")
    assert torch.get_num_threads() == before
