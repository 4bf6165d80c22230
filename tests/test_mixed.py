"""Esper-Mixed-v0: a task per seed from a typed distribution, in the common layout."""

import gymnasium as gym
import numpy as np
import pytest

import esper_env
from agents import HeuristicTamiyo, RandomLegal, make_agent, save_policy
from esper_env import leyline as ly
from esper_env.config import ConfigError, make_config
from esper_env.mixed import MixedEsperEnv
from esper_env.tasks import TaskDistribution, TaskFamily, task_distribution

SMALL = make_config("tiny", train_size=96, val_size=32, test_size=32, max_epochs=4, host="tiny", blend_epochs=1)
"""A cheap base for test distributions."""


def small_tasks() -> TaskDistribution:
    """Every drawn field varies; tiny sizes."""
    return TaskDistribution((
        TaskFamily("a", SMALL, hosts=("tiny", "small"), widths=(0.5, 1.0), train_sizes=(64, 96),
                   heldout_train_sizes=(80,), max_epochs=(3, 4), lrs=(0.05, 0.1), blend_epochs=(1, 2),
                   slot_sets=((1, 2), (0,), (0, 1, 2), (2,)), image_sizes=(16, 32),
                   blueprint_sets=(("norm",), ("conv_residual", "lowrank"), ly.LAYOUT_BLUEPRINTS)),
        TaskFamily("b", SMALL.replace(image_size=8), train_sizes=(48,), slot_sets=((0, 1),), image_sizes=(8,)),
    ))


def test_the_same_seed_draws_the_same_task_and_seeds_vary_it():
    tasks = task_distribution("cheap", data_root="nowhere")
    draws = [tasks.draw(s) for s in range(200)]
    assert draws == [tasks.draw(s) for s in range(200)]
    for name in ("host", "width", "train_size", "max_epochs", "lr", "blend_epochs", "slots", "image_size",
                 "synthetic_seed", "dataset"):
        assert len({getattr(d, name) for d in draws}) > 1, name
    env = gym.make("Esper-Mixed-v0", tasks=small_tasks())
    _, first = env.reset(seed=7)
    env.reset(seed=8)
    _, again = env.reset(seed=7)
    assert first["task"] == again["task"] == small_tasks().draw(7)
    assert isinstance(first["task"], esper_env.EsperConfig)


def test_heldout_draws_never_overlap_training_draws():
    for name in ("synthetic", "cheap"):
        tasks = task_distribution(name, data_root="nowhere")
        train = [tasks.draw(s, "train") for s in range(300)]
        held = [tasks.draw(s, "heldout") for s in range(300)]
        synthetic = lambda cs: {c.synthetic_seed for c in cs if c.dataset == "synthetic"}  # noqa: E731
        assert synthetic(train) and synthetic(held) and not synthetic(train) & synthetic(held)
        assert 0 not in synthetic(train) | synthetic(held)  # Esper-Fast-v0's dataset is never drawn
        assert not {c.train_size for c in train} & {c.train_size for c in held}


def test_a_bad_distribution_is_refused_clearly():
    with pytest.raises(ConfigError, match="overlap"):
        TaskDistribution((TaskFamily("x", make_config("fast"), synthetic_seeds=(1, 10),
                                     heldout_synthetic_seeds=(5, 20)),))
    with pytest.raises(ConfigError, match="task family 'x'.*slots"):
        TaskDistribution((TaskFamily("x", make_config("fast"), slot_sets=((0, 7),)),))
    with pytest.raises(ConfigError, match="unknown task distribution"):
        gym.make("Esper-Mixed-v0", tasks="nope")
    with pytest.raises(ConfigError, match="split"):
        gym.make("Esper-Mixed-v0", split="test")
    with pytest.raises(ConfigError, match="unknown setting"):
        gym.make("Esper-Mixed-v0", max_epoch=3)


def test_spaces_are_the_common_layout_on_every_task():
    env = gym.make("Esper-Mixed-v0", tasks=small_tasks())
    tiny = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32)
    assert env.observation_space == tiny.observation_space and env.action_space == tiny.action_space
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        assert obs.shape == env.observation_space.shape and env.unwrapped.schema == tiny.unwrapped.schema
        d = dict(zip(env.unwrapped.observation_fields, obs))
        task = info["task"]
        assert [d[f"slot{p}_enabled"] for p in range(3)] == [float(p in task.slots) for p in range(3)]
        assert d["task_image_size"] == task.image_size / 32


def test_masks_never_allow_a_disabled_slot_or_blueprint():
    """Property test over random legal episodes of the mixed env."""
    env = gym.make("Esper-Mixed-v0", tasks=small_tasks())
    codec = ly.ActionCodec.layout()
    agent = RandomLegal()
    seen_slots, seen_ops = set(), set()
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        agent.reset(seed)
        task, done = info["task"], False
        while not done:
            for c, legal in zip(codec.commands, info["action_mask"]):
                if legal and c.slot is not None:
                    assert c.slot in task.slots, (seed, str(c))
                if legal and c.blueprint is not None:
                    assert c.blueprint in task.blueprints, (seed, str(c))
            assert np.array_equal(info["action_mask"], env.unwrapped.action_masks())
            a = agent.act(obs, info)
            seen_ops.add(codec.decode(a).op)
            seen_slots.add(codec.decode(a).slot)
            obs, _, done, _, info = env.step(a)
            assert not info["illegal_command"]
    assert {ly.Op.GERMINATE, ly.Op.WAIT} <= seen_ops and {0, 1, 2} <= seen_slots


def test_a_mixed_episode_is_the_drawn_tasks_episode():
    mixed = gym.make("Esper-Mixed-v0", tasks=small_tasks())
    obs_m, info = mixed.reset(seed=3)
    plain = gym.make("Esper-Tiny-v0", config=info["task"])
    obs_p, _ = plain.reset(seed=3)
    assert np.array_equal(obs_m, obs_p)
    for a in (0, 1, 0):
        a = a if mixed.unwrapped.action_masks()[a] else 0
        om, rm, *_ = mixed.step(a)
        op, rp, *_ = plain.step(a)
        assert np.array_equal(om, op) and rm == rp


def test_a_task_drawn_again_reuses_its_data():
    env = MixedEsperEnv(tasks=small_tasks(), cache_size=2)
    env.reset(seed=1)
    first = env.env
    env.reset(seed=2)
    env.reset(seed=1)
    assert env.env is first  # no new env, no data loaded or generated again


def test_heuristic_decides_from_one_step_alone_on_the_mixed_env():
    """The heuristic's fresh-instance test, on several drawn tasks."""
    env = gym.make("Esper-Mixed-v0", tasks=small_tasks(), max_epochs=12, blend_epochs=1, plateau_threshold=1.0)
    germinated = 0
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        player, done = HeuristicTamiyo(), False
        while not done:
            action = player.act(obs, info)
            assert HeuristicTamiyo().act(obs, info) == action
            germinated += env.unwrapped.codec.decode(action).op == ly.Op.GERMINATE
            obs, _, done, _, info = env.step(action)
    assert germinated > 0


def test_a_policy_saved_on_tiny_acts_on_the_mixed_env(tmp_path):
    from sb3_contrib import MaskablePPO
    tiny = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, max_epochs=2)
    model = MaskablePPO("MlpPolicy", tiny, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu")
    path = save_policy(model, tmp_path / "tamiyo.zip", tiny.unwrapped.schema, tiny.unwrapped.config.to_dict())
    env = gym.make("Esper-Mixed-v0", tasks=small_tasks())
    agent = make_agent(f"policy:{path}", schema=env.unwrapped.schema)
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            a = agent.act(obs, info)
            assert info["action_mask"][a]
            obs, _, done, _, info = env.step(a)
        assert 0 <= info["final"].test_accuracy <= 1


@pytest.mark.slow
def test_compare_and_collect_on_the_mixed_env_play_each_seeds_task(tmp_path):
    import json

    from lab.cli import main
    small = ["--set", "train_size=64", "--set", "val_size=32", "--set", "test_size=32", "--set", "max_epochs=3"]
    assert main(["compare", "--env", "Esper-Mixed-v0", "--seeds", "3", "4", "--agents", "no-growth", "heuristic",
                 "--out", str(tmp_path / "cmp"), "--set", "split=heldout", *small, "--quiet"]) == 0
    runs = [json.loads(s) for s in (tmp_path / "cmp" / "runs.jsonl").read_text().splitlines()]
    for r in runs:
        expected = esper_env.config_for("Esper-Mixed-v0", r["seed"], split="heldout", train_size=64, val_size=32,
                                        test_size=32, max_epochs=3)
        assert r["config"] == expected.to_dict() and r["env_id"] == "Esper-Mixed-v0"
    assert len({json.dumps(r["config"]) for r in runs}) == 2  # one task per seed, shared by the rows
    assert main(["collect", "--env", "Esper-Mixed-v0", "--seeds", "1000", "1001", "--out", str(tmp_path / "d.npz"),
                 *small, "--quiet"]) == 0
    from agents.simic.dataset import load
    demos = load(tmp_path / "d.npz")
    assert demos.meta["config"] is None and demos.env_kwargs["max_epochs"] == 3 and len(demos.episodes) == 2


@pytest.mark.slow
def test_run_compare_and_collect_accept_a_policy_made_on_another_id(tmp_path):
    """The committed bc policy was trained on Esper-Fast-v0 (and converted to the common layout)."""
    from pathlib import Path

    from lab.cli import main
    policy = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "simic" / "bc.zip"
    small = ["--set", "train_size=64", "--set", "val_size=32", "--set", "test_size=32", "--set", "max_epochs=3"]
    assert main(["run", "--env", "Esper-Tiny-v0", "--agent", f"policy:{policy}", *small, "--quiet"]) == 0
    assert main(["collect", "--env", "Esper-Mixed-v0", "--agent", f"policy:{policy}", "--seeds", "1000",
                 "--explore", "0", "--out", str(tmp_path / "d.npz"), *small, "--quiet"]) == 0
    from agents.simic.dataset import load
    ep = load(tmp_path / "d.npz").episodes[1000]
    assert (ep.teacher == ep.action).all() and ep.mask[np.arange(len(ep.action)), ep.action].all()
    assert main(["compare", "--env", "Esper-Tiny-v0", "--seeds", "0", "--agents", f"bc=policy:{policy}",
                 "--no-scratch", "--out", str(tmp_path / "cmp"), *small, "--quiet"]) == 0
