"""The contracts learning and comparison rely on: observations that agree with the masks, a heuristic whose
choices are a function of what it observes, env snapshots, and policies that record their schema."""

import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import esper_env
from agents import HeuristicTamiyo, RandomLegal, SchemaMismatchError, make_agent, run_episode, save_policy
from esper_env import EnvSnapshot, load_snapshot, save_snapshot
from esper_env import leyline as ly
from esper_env.leyline import Command, Op, SeedStage
from lab.checkpoint import resume_episode, save_checkpoint
from lab.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]

# The tiny preset with fewer images: the lifecycle and the observation do not depend on the data size.
SMALL = dict(train_size=256, val_size=128, test_size=128)


def play(env, agent, seed):
    """(observations, infos, actions) of one episode."""
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    out = [(obs, info, None)]
    done = False
    while not done:
        a = agent.act(obs, info)
        obs, _, done, _, info = env.step(a)
        out.append((obs, info, a))
    return out


@pytest.fixture(scope="module")
def random_episodes():
    env = gym.make("Esper-Tiny-v0", **SMALL)
    return env, [play(env, RandomLegal(), seed) for seed in range(8)]


@pytest.mark.slow
def test_no_observation_entry_is_constant_over_random_legal_episodes(random_episodes):
    env, episodes = random_episodes
    obs = np.array([o for ep in episodes for o, _, _ in ep])
    constant = {f for f, s in zip(env.unwrapped.observation_fields, np.ptp(obs, axis=0)) if s == 0}
    # the task's description and what it enables are constant within one env (they vary across tasks:
    # test_mixed.py); everything else moves
    describes_task = {f for f in env.unwrapped.observation_fields if f.startswith("task_") or f.endswith("_enabled")}
    assert constant == describes_task
    assert obs.min() >= -1 and obs.max() <= 1


@pytest.mark.slow
def test_observed_stages_agree_with_the_masks(random_episodes):
    env, episodes = random_episodes
    codec = env.unwrapped.codec
    seen = set()
    for ep in episodes:
        for _, info, _ in ep:
            mask, report = info["action_mask"], info["report"]
            for s in report.slots:
                seen.add(s.stage)
                germinate_legal = any(mask[codec.encode(Command.germinate(s.index, b))] for b in report.blueprints)
                if s.stage in (SeedStage.CULLED, SeedStage.DORMANT):
                    assert (s.embargo_left == 0) == germinate_legal, (s, germinate_legal)
                else:
                    assert s.embargo_left == 0 and not germinate_legal
                assert mask[codec.encode(Command.cull(s.index))] == (s.stage in ly.ACTIVE_STAGES)
                assert mask[codec.encode(Command.advance(s.index))] == (
                    s.stage == SeedStage.TRAINING or (s.stage == SeedStage.BLENDING and s.blend_complete))
    assert seen == set(SeedStage)  # every stage, GERMINATED and CULLED included, is observed


def test_germinated_can_be_culled_and_culled_slot_shows_its_embargo():
    env = gym.make("Esper-Tiny-v0", **SMALL, max_epochs=4, embargo_epochs=2)
    c = env.unwrapped.codec
    env.reset(seed=0)
    _, _, _, _, info = env.step(c.encode(Command.germinate(0, "norm")))
    assert info["report"].slots[0].stage == SeedStage.GERMINATED
    stages = []
    for a in [Command.cull(0), Command.wait(), Command.wait()]:
        _, _, _, _, info = env.step(c.encode(a))
        s = info["report"].slots[0]
        stages.append((s.stage, s.embargo_left))
    assert stages == [(SeedStage.CULLED, 2), (SeedStage.CULLED, 1), (SeedStage.DORMANT, 0)]
    assert [e.label for e in info["final"].history] == ["germinate", "cull", "dormant"]


@pytest.mark.slow
def test_heuristic_decides_from_one_step_alone():
    """A fresh heuristic given only a step's (observation, info) picks what the one that played chose."""
    env = gym.make("Esper-Tiny-v0", **SMALL)
    ops = set()
    for seed in range(3):
        episode = play(env, HeuristicTamiyo(), seed)
        for (obs, info, _), (_, _, action) in zip(episode, episode[1:]):
            assert HeuristicTamiyo().act(obs, info) == action
            ops.add(env.unwrapped.codec.decode(action).op)
    assert {Op.WAIT, Op.GERMINATE, Op.ADVANCE} <= ops  # the check saw real decisions, not only WAITs


# ---- snapshots -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_snapshot_restore_is_bit_identical(tmp_path):
    kw = dict(SMALL, max_epochs=9, blend_epochs=3)
    env = gym.make("Esper-Tiny-v0", **kw)
    c = env.unwrapped.codec
    env.reset(seed=3)
    for a in [Command.germinate(0, "conv_residual"), Command.germinate(1, "lowrank"), Command.advance(0),
              Command.wait()]:
        env.step(c.encode(a))
    stages = [s.stage for s in env.unwrapped.report.slots]
    assert stages[:2] == [SeedStage.BLENDING, SeedStage.TRAINING]  # mid-episode, mid-blend, mid-isolation
    snap = env.unwrapped.snapshot()
    rest = [c.encode(a) for a in [Command.advance(1), Command.wait(), Command.cull(1), Command.advance(0),
                                  Command.germinate(2, "depthwise")]]

    def finish(e):
        out = []
        for a in rest:
            obs, r, term, _, info = e.step(a)
            out.append((obs, r))
        assert term
        return out, info["final"]

    ref, ref_final = finish(env)
    path = tmp_path / "snap.pt"
    save_snapshot(path, snap)
    for state in (snap, pickle.loads(pickle.dumps(snap)), load_snapshot(path)[0]):
        for target in (env, gym.make("Esper-Tiny-v0", **kw)):  # the same env (a branch), and a fresh one
            target.reset()  # gymnasium's wrappers want a reset before the first step of any env
            obs, info = target.unwrapped.restore(state)
            assert info["report"].epoch == 4
            got, final = finish(target)
            for (o1, r1), (o2, r2) in zip(ref, got):
                assert np.array_equal(o1, o2) and r1 == r2
            assert final == ref_final  # test accuracy, FLOPs, history: all identical


def test_restore_refuses_another_config_and_files_are_data(tmp_path):
    env = gym.make("Esper-Tiny-v0", **SMALL, max_epochs=3)
    env.reset(seed=0)
    snap = env.unwrapped.snapshot()
    other = gym.make("Esper-Tiny-v0", **SMALL, max_epochs=4)
    with pytest.raises(ValueError, match="max_epochs: 3 vs 4"):
        other.unwrapped.restore(snap)
    with pytest.raises(TypeError, match="EnvSnapshot"):
        env.unwrapped.restore({"epoch": 1})
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a snapshot")
    with pytest.raises(ValueError, match="not an Esper snapshot"):
        load_snapshot(bad)
    assert isinstance(snap, EnvSnapshot)


class Interrupt(Exception):
    pass


def test_interrupted_episode_resumes_to_the_same_result(tmp_path):
    kw = dict(SMALL, max_epochs=6)
    env = gym.make("Esper-Tiny-v0", **kw)
    ref = run_episode(env, RandomLegal(), seed=5)
    path = tmp_path / "ck.pt"
    agent = RandomLegal()

    def save_then_stop(record):
        save_checkpoint(path, env, agent, record)
        if len(record.steps) == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_episode(env, agent, seed=5, after_step=save_then_stop)
    fresh = gym.make("Esper-Tiny-v0", **kw)
    resumed = resume_episode(path, fresh, RandomLegal(), seed=5)
    assert [s.action for s in resumed.steps] == [s.action for s in ref.steps]
    assert [s.reward for s in resumed.steps] == [s.reward for s in ref.steps]
    assert resumed.outcome == ref.outcome
    with pytest.raises(ValueError, match="already ended"):
        resume_episode(path, fresh, RandomLegal(), seed=5)
    with pytest.raises(ValueError, match="agent 'random'"):
        resume_episode(path, fresh, HeuristicTamiyo(), seed=5)


def test_cli_run_checkpoint_and_resume(tmp_path, capsys):
    ck, out = tmp_path / "ck.pt", tmp_path / "result.json"
    args = ["run", "--env", "Esper-Tiny-v0", "--agent", "fixed", "--set", "max_epochs=3", "--set", "train_size=128",
            "--set", "val_size=64", "--set", "test_size=64", "--quiet", "--checkpoint", str(ck), "--json", str(out)]
    assert cli_main(args) == 0 and ck.is_file()
    import json

    from lab.records import RunRecord
    result = RunRecord.from_dict(json.loads(out.read_text()))  # the file is a RunRecord's JSON form
    assert result.config["max_epochs"] == 3 and result.version and result.date and result.machine
    assert len(result.val_accuracy) == 4 and 0 <= result.outcome.test_accuracy <= 1
    capsys.readouterr()
    assert cli_main(args + ["--resume"]) == 2
    assert "already ended" in capsys.readouterr().err
    assert cli_main(["run", "--resume", "--env", "Esper-Tiny-v0"]) == 2
    assert "--checkpoint" in capsys.readouterr().err


# ---- policies record their schema ----------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_policy(tmp_path_factory):
    from sb3_contrib import MaskablePPO
    env = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, max_epochs=2)
    model = MaskablePPO("MlpPolicy", env, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu")
    path = tmp_path_factory.mktemp("policy") / "tamiyo.zip"
    save_policy(model, path, env.unwrapped.schema, env.unwrapped.config.to_dict())
    return path, model


TINY_SIZES = dict(train_size=64, val_size=32, test_size=32, max_epochs=2)


def _play(agent, env, seed=0):
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        action = agent.act(obs, info)
        assert info["action_mask"][action], "a masked policy chose an illegal action"
        obs, _, done, _, info = env.step(action)
    return info["final"]


def test_every_env_has_the_common_layout():
    spaces_of = {}
    for env_id in esper_env.ENV_IDS:
        if env_id == "Esper-CIFAR10-v0":  # needs the real data; its config says its spaces
            spaces_of[env_id] = esper_env.config_for(env_id).schema()
            continue
        env = gym.make(env_id, **TINY_SIZES)
        assert env.observation_space == gym.spaces.Box(-1, 1, (len(ly.observation_fields()),), np.float32)
        assert env.action_space == gym.spaces.Discrete(22)
        spaces_of[env_id] = env.unwrapped.schema
    assert len(set(spaces_of.values())) == 1
    schema = next(iter(spaces_of.values()))
    assert len(schema.actions) == 22 and schema.fields == tuple(ly.observation_fields())


def test_a_policy_saved_on_one_env_acts_on_others(saved_policy, subset_root):
    path, _ = saved_policy
    agent = make_agent(f"policy:{path}")
    others = [gym.make("Esper-Tiny-v0", **TINY_SIZES, slots=(0, 1), blueprints=("norm",)),
              gym.make("Esper-Fast-v0", **TINY_SIZES),
              gym.make("Esper-CIFAR10-v0", data_root=str(subset_root), train_size=256, val_size=64, test_size=64,
                       max_epochs=2, host="tiny", image_size=16)]
    for env in others:
        assert env.observation_space == agent.model.observation_space and env.action_space.n == 22
        make_agent(f"policy:{path}", schema=env.unwrapped.schema)  # the schema check passes
        outcome = _play(agent, env)
        assert 0 <= outcome.test_accuracy <= 1
def test_policy_of_another_observation_version_or_without_schema_is_refused(saved_policy, tmp_path):
    import json
    import zipfile
    path, model = saved_policy
    env = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, max_epochs=2)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "esper_schema.json":
                d = json.loads(data)
                d["schema"]["obs_version"] = 3  # the old per-env layout: not a prefix of this one
                d["schema"]["fields"] = d["schema"]["fields"][:-5]
                data = json.dumps(d)
            dst.writestr(name, data)
    with pytest.raises(SchemaMismatchError, match="observation version 3.*esper convert.*72e2fcb"):
        make_agent(f"policy:{old}", schema=env.unwrapped.schema)
    bare = tmp_path / "bare.zip"
    model.save(bare)
    with pytest.raises(SchemaMismatchError, match="records no Esper observation schema"):
        make_agent(f"policy:{bare}", schema=env.unwrapped.schema)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    with pytest.raises(ValueError, match="not a readable saved policy"):
        make_agent(f"policy:{junk}")


def test_a_version_4_policy_plays_the_version_5_layout_reading_its_first_entries():
    """Version 5 appends each slot's isolated loss: a committed version-4 policy (Simic v2's shipped clone) plays
    today's envs on the entries it was trained on, exactly as before; a dataset or a PPO start needs the exact
    layout."""
    from agents.policy_file import check_schema, read_policy_schema

    path = ROOT / "benchmarks/results/simic2/attempt3/simic-val.zip"
    recorded = read_policy_schema(path)
    assert recorded.obs_version == 4 and recorded.reads_prefix_of(ly.LAYOUT_SCHEMA)
    assert ly.LAYOUT_SCHEMA.fields[len(recorded.fields):] == ly.APPENDED[5]
    with pytest.raises(SchemaMismatchError, match="observation version 4"):
        check_schema(recorded, ly.LAYOUT_SCHEMA, "a dataset")  # exact unless a playing policy asks for a prefix
    env = gym.make("Esper-Fast-v0")
    agent = make_agent(f"policy:{path}", schema=env.unwrapped.schema)
    obs, info = env.reset(seed=1000)
    assert len(obs) == len(ly.LAYOUT_SCHEMA.fields) > len(recorded.fields)
    expected, _ = agent.model.predict(obs[:len(recorded.fields)], deterministic=True, action_masks=info["action_mask"])
    assert agent.act(obs, info) == int(expected)
