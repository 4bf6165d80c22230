"""Residual policies: a static plan plus a learned deviation (Simic v3's learner)."""

import json
import zipfile

import gymnasium as gym
import pytest

from agents import make_agent, run_episode
from agents.policy import ResidualPolicyAgent
from agents.residual import RESIDUAL_ENTRY, read_residual
from agents.schedule import Schedule, ScheduledSeed
from agents.simic.bc import BCConfig, behaviour_clone
from agents.simic.collect import CollectConfig, collect
from esper_env.fileio import portable

SMALL = dict(train_size=96, val_size=32, test_size=32, max_epochs=6, blend_epochs=1, plateau_threshold=1.0)
PLAN = Schedule((ScheduledSeed(0.0, 0, "conv_residual", 1), ScheduledSeed(0.34, 1, "norm", 1)))


def commands(agent, seed: int) -> list[int]:
    env = gym.make("Esper-Tiny-v0", **SMALL)
    rec = run_episode(env, agent, seed=seed)
    env.close()
    return [s.action for s in rec.steps]


@pytest.fixture(scope="module")
def no_growth_labels(tmp_path_factory):
    """Labels that never grow a seed (no-growth as the teacher, no exploration): every GERMINATE of the plan is
    a deviation to learn."""
    out = tmp_path_factory.mktemp("residual") / "demos.npz"
    collect(CollectConfig("Esper-Tiny-v0", SMALL, teacher="no-growth", seeds=tuple(range(1000, 1006)), explore=0.0,
                          out=out), progress=False)
    return out


def test_an_untrained_residual_policy_plays_its_plan_and_loads_as_one(no_growth_labels, tmp_path):
    plan = PLAN.save(tmp_path / "plan.json")
    out = tmp_path / "untrained.zip"
    behaviour_clone(BCConfig(data=no_growth_labels, out=out, epochs=1, lr=1e-9, holdout_every=3, residual=plan),
                    progress=False)
    agent = make_agent(f"policy:{out}")
    assert isinstance(agent, ResidualPolicyAgent) and read_residual(out) == (PLAN, 3.0, None)
    with zipfile.ZipFile(out) as z:  # the plan is data in the file
        assert json.loads(z.read(RESIDUAL_ENTRY))["base"] == PLAN.to_json()
    planned = commands(make_agent(f"schedule:{plan}"), 7)
    assert any(planned)  # the plan grows seeds on this seed
    assert commands(agent, 7) == planned


def test_a_residual_policy_learns_where_the_teacher_overrules_the_plan(no_growth_labels, tmp_path):
    plan = PLAN.save(tmp_path / "plan.json")
    out = tmp_path / "trained.zip"
    _, held, _ = behaviour_clone(BCConfig(data=no_growth_labels, out=out, epochs=150, holdout_every=3, residual=plan,
                                          entropy_coef=1.0), progress=False)  # Simic v3's cloning settings
    assert held.accuracy == 1.0  # the held-out no-growth labels, though the plan germinates twice
    assert not any(commands(make_agent(f"policy:{out}"), 7))  # it plays no-growth, not the plan


def test_bad_residual_settings_are_refused(no_growth_labels, tmp_path):
    with pytest.raises(FileNotFoundError):
        BCConfig(data=no_growth_labels, out=tmp_path / "x.zip", residual=tmp_path / "missing.json").check()
    plan = PLAN.save(tmp_path / "plan.json")
    with pytest.raises(ValueError, match="leave it unset with --residual"):
        BCConfig(data=no_growth_labels, out=tmp_path / "x.zip", residual=plan, sharpen_entropy=0.1).check()
    with pytest.raises(ValueError, match="residual-bonus must be > 0"):
        BCConfig(data=no_growth_labels, out=tmp_path / "x.zip", residual=plan, residual_bonus=0.0).check()


@pytest.mark.slow
def test_residual_policy_iteration_plays_the_plan_then_its_residual_clone(tmp_path):
    from agents.simic.dataset import load
    from agents.simic.iterate import IterateConfig, iterate

    plan = PLAN.save(tmp_path / "plan.json")
    cfg = IterateConfig("Esper-Tiny-v0", SMALL, rounds=2, episodes=3, start=f"schedule:{plan}", residual=plan,
                        stride=3, bc_epochs=5, out=tmp_path / "pi")
    summary = iterate(cfg, progress=False)
    assert summary["rounds"]["1"]["behaviour"] == f"policy:{portable(cfg.policy(0))}"  # as records keep paths
    clone = make_agent(f"policy:{cfg.policy(0)}")
    assert isinstance(clone, ResidualPolicyAgent) and read_residual(cfg.policy(1)) == (PLAN, 3.0, None)
    env = gym.make("Esper-Tiny-v0", **SMALL)
    for seed, ep in load(cfg.labels(1)).episodes.items():  # round 1's states are the residual clone's
        obs, info = env.reset(seed=seed)
        for recorded in ep.action:
            assert int(clone.act(obs, info)) == recorded
            obs, _, _, _, info = env.step(int(recorded))


def test_a_task_schedule_is_a_residual_base_each_task_its_own_plan(no_growth_labels, tmp_path):
    from agents.schedule import TaskCase, TaskSchedule

    # SMALL's tasks train on 96 images: the case matches there, and another size falls back to no growth
    base = TaskSchedule((TaskCase("small", (("train_images", 96),), PLAN),), default=Schedule())
    plan = base.save(tmp_path / "task-plan.json")
    out = tmp_path / "untrained.zip"
    behaviour_clone(BCConfig(data=no_growth_labels, out=out, epochs=1, lr=1e-9, holdout_every=3, residual=plan),
                    progress=False)
    assert read_residual(out) == (base, 3.0, None)
    agent = make_agent(f"policy:{out}")
    assert commands(agent, 7) == commands(make_agent(f"schedule:{PLAN.save(tmp_path / 'plan.json')}"), 7) != [0] * 6
    env = gym.make("Esper-Tiny-v0", **dict(SMALL, train_size=128))
    assert not any(s.action for s in run_episode(env, agent, seed=7).steps)  # no case: the default plan


def test_the_reactive_heuristic_is_a_residual_base_and_its_file_is_data(no_growth_labels, tmp_path):
    from agents.residual import RULE_FORMAT, RuleBase, load_base
    base = RuleBase()
    path = base.save(tmp_path / "reactive.json")
    assert load_base(path) == base and json.loads(path.read_text())["format"] == RULE_FORMAT
    out = tmp_path / "untrained.zip"
    behaviour_clone(BCConfig(data=no_growth_labels, out=out, epochs=1, lr=1e-9, holdout_every=3, residual=path),
                    progress=False)
    assert read_residual(out) == (base, 3.0, None)
    faulty = dict(SMALL, event="faulty_seeds", fault_p=0.75)  # seeds fail: the reactive heuristic culls and regrows
    reactive = commands_on(make_agent("reactive"), 7, faulty)
    assert len({a for a in reactive if a}) >= 2  # it does more than wait and grow once
    assert commands_on(make_agent(f"policy:{out}"), 7, faulty) == reactive


def test_a_bad_rule_base_is_refused_with_what_to_write(tmp_path):
    from agents.residual import RULE_FORMAT, load_base

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": RULE_FORMAT, "version": 1, "rule": "heuristic"}))
    with pytest.raises(ValueError, match="the reactive heuristic is the one rule base"):
        load_base(path)
    path.write_text(json.dumps({"format": RULE_FORMAT, "version": 1, "rule": "reactive", "config": {"harm": 1,
                                                                                                 "bogus": 2}}))
    with pytest.raises(ValueError, match=r"unknown fields \['bogus'\]"):
        load_base(path)


def commands_on(agent, seed: int, overrides: dict) -> list[int]:
    env = gym.make("Esper-Tiny-v0", **overrides)
    rec = run_episode(env, agent, seed=seed)
    env.close()
    return [s.action for s in rec.steps]


def greedy_agreement(path, cfg) -> tuple[int, int]:
    """Play ``path``'s residual agent on seed 7 beside the PPO policy built from the same file (the plan in the
    observation); every greedy command must be equal. Returns (states where the plan was kept, overruled)."""
    import numpy as np
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.residual import plan_action
    from agents.simic.ppo import _model_for
    from agents.simic.residual_ppo import PlanInObservation

    residual = read_residual(path)
    wrapped = PlanInObservation(gym.make("Esper-Tiny-v0", **SMALL), residual)
    model = _model_for(path, DummyVecEnv([lambda: wrapped]), cfg, False, residual)
    agent = make_agent(f"policy:{path}")
    obs, info = wrapped.reset(seed=7)
    kept = overruled = 0
    done = False
    while not done:
        ours = int(model.predict(obs, deterministic=True, action_masks=info["action_mask"])[0])
        assert ours == agent.act(obs[:-1], info)
        plan = plan_action(residual.plan, info["report"], np.asarray(info["action_mask"], bool))
        assert obs[-1] == plan
        kept, overruled = kept + int(ours == plan), overruled + int(ours != plan)
        obs, _, term, trunc, info = wrapped.step(ours)
        done = term or trunc
    return kept, overruled


def test_ppo_fine_tunes_a_residual_policy_as_one(no_growth_labels, tmp_path):
    """During PPO the plan's command travels in the observation: the PPO policy's greedy command is the residual
    agent's at every state, and the fine-tuned file is a residual policy file again."""
    import numpy as np

    from agents.policy_file import read_tensors
    from agents.simic.ppo import PPOConfig, train_ppo

    plan = PLAN.save(tmp_path / "plan.json")
    untrained, clone = tmp_path / "untrained.zip", tmp_path / "clone.zip"
    behaviour_clone(BCConfig(data=no_growth_labels, out=untrained, epochs=1, lr=1e-9, holdout_every=3,
                             residual=plan), progress=False)
    behaviour_clone(BCConfig(data=no_growth_labels, out=clone, epochs=150, holdout_every=3, residual=plan,
                             entropy_coef=1.0), progress=False)  # it overrules the plan's germinations
    cfg = PPOConfig(init=clone, env_id="Esper-Tiny-v0", overrides=dict(SMALL), timesteps=12, out=tmp_path / "ppo",
                    n_envs=1, n_steps=6, batch_size=6, n_epochs=2, vf_warmup_updates=0, learning_rate=3e-3)
    assert greedy_agreement(untrained, cfg)[0] == SMALL["max_epochs"]  # the plan at every state
    assert greedy_agreement(clone, cfg)[1] > 0  # and the network's deviation

    train_ppo(cfg, progress=False)
    final = cfg.out / "final.zip"
    assert read_residual(final) == read_residual(clone)
    assert isinstance(make_agent(f"policy:{final}"), ResidualPolicyAgent)
    before, after = read_tensors(clone, "policy.pth"), read_tensors(final, "policy.pth")
    assert before.keys() == after.keys()  # a plain MlpPolicy's weights: the plan lives outside them
    assert any(not np.array_equal(before[k].numpy(), after[k].numpy()) for k in before if "action_net" in k)
    kept, overruled = greedy_agreement(final, cfg)  # still the same policy in both forms
    assert kept + overruled == SMALL["max_epochs"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(next((cfg.out / "tensorboard").glob("ppo_1")))).Reload()
    assert {"rollout/ep_rew_mean", "simic/plan_kept_greedy"} <= set(events.Tags()["scalars"])  # what PPO maximises


def test_a_blind_residual_policy_reads_only_its_fields_during_ppo():
    import numpy as np

    from agents.residual import Residual
    from agents.simic.residual_ppo import PlanInObservation
    from esper_env.leyline import observation_fields

    env = PlanInObservation(gym.make("Esper-Tiny-v0", **SMALL), Residual(PLAN, 3.0, ("progress", "budget_left")))
    obs, _ = env.reset(seed=7)
    obs, *_ = env.step(0)
    fields = observation_fields()
    assert env.observation_space.shape == (len(fields) + 1,) and env.observation_space.contains(obs)
    seen = {fields[i] for i in np.flatnonzero(obs[:-1])}
    assert seen and seen <= {"progress", "budget_left"}
