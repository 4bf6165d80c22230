"""Simic v2: branching from snapshots, the improved teacher, and its pipeline."""


import gymnasium as gym
import numpy as np
import pytest

from agents import HeuristicTamiyo, make_agent
from agents.simic.branch import ImproveConfig, candidates
from agents.simic.rollout import Branch, best_branch, branch
from esper_env import leyline as ly
from esper_env.fileio import portable
from lab.cli import main

SMALL = dict(train_size=96, val_size=32, test_size=32, max_epochs=10, blend_epochs=1, plateau_threshold=1.0)
SET = [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]


def test_a_branch_on_the_played_command_reproduces_the_unbranched_run_bit_for_bit():
    env = gym.make("Esper-Tiny-v0", **SMALL)
    obs, info = env.reset(seed=1003)
    agent, steps, snaps, done = HeuristicTamiyo(), [], [], False
    while not done:
        snaps.append(env.unwrapped.snapshot())
        a = agent.act(obs, info)
        obs, r, done, _, info = env.step(a)
        steps.append((a, r))
    final_val = info["final"].val_accuracy
    assert any(ly.ActionCodec.layout().decode(a).op != ly.Op.WAIT for a, _ in steps)
    for t in (3, 6):
        (b,) = branch(env, snaps[t], [steps[t][0]], HeuristicTamiyo)
        assert b.val_accuracy == final_val
        assert b.episode_return == pytest.approx(sum(r for _, r in steps[t:]), abs=0)  # same floats, same order
        assert b.epochs == SMALL["max_epochs"] - t


def test_the_improved_teacher_picks_the_better_branch():
    branches = [Branch(0, 0.50, 0.10, 5), Branch(4, 0.56, 0.02, 5), Branch(19, 0.52, 0.12, 5)]
    assert best_branch(branches, rollout_action=0, objective="val", margin=0.0) == 4
    assert best_branch(branches, rollout_action=0, objective="return", margin=0.0) == 19
    assert best_branch(branches, rollout_action=0, objective="val", margin=0.1) == 0  # not better by enough
    assert best_branch(branches, rollout_action=19, objective="return", margin=0.0) == 19
    # on a real state: the label is the argmax of the branches the env plays
    env = gym.make("Esper-Tiny-v0", **SMALL)
    obs, info = env.reset(seed=1001)
    for _ in range(3):
        obs, _, _, _, info = env.step(0)
    own = HeuristicTamiyo().act(obs, info)
    cands = candidates(info["report"], info["action_mask"], own, max_germinate=2)
    assert 0 in cands and len(cands) >= 3 and all(info["action_mask"][a] for a in cands)
    bs = branch(env, env.unwrapped.snapshot(), cands, HeuristicTamiyo)
    label = best_branch(bs, own, "val", 0.0)
    assert max(b.val_accuracy for b in bs) == next(b.val_accuracy for b in bs if b.action == label)


def test_bad_improve_settings_are_refused():
    with pytest.raises(ValueError, match="training seeds"):
        ImproveConfig(env_id="Esper-Tiny-v0", seeds=(5,)).check()
    with pytest.raises(ValueError, match="objective"):
        ImproveConfig(env_id="Esper-Tiny-v0", objective="test").check()
    with pytest.raises(ValueError, match="rollout"):
        ImproveConfig(env_id="Esper-Tiny-v0", rollout="random").check()


@pytest.mark.slow
def test_collect_branch_train_save_load_compare_end_to_end(tmp_path):
    data, policy = tmp_path / "improved.npz", tmp_path / "simic.zip"
    assert main(["improve", "--env", "Esper-Tiny-v0", "--seeds", "1000", "1001", "--stride", "2", "--out", str(data),
                 *SET, "--quiet"]) == 0
    assert main(["bc", "--data", str(data), "--out", str(policy), "--epochs", "5", "--holdout-every", "2",
                 "--quiet"]) == 0
    agent = make_agent(f"policy:{policy}")
    assert agent.name == "simic"
    assert main(["compare", "--env", "Esper-Tiny-v0", "--seeds", "0", "--agents", "heuristic",
                 f"simic=policy:{policy}", "--no-scratch", "--out", str(tmp_path / "cmp"), *SET, "--quiet"]) == 0
    table = (tmp_path / "cmp" / "table.md").read_text()
    assert "| simic |" in table
    from agents.simic.dataset import load
    demos = load(data)
    budget = demos.meta["budget"]
    assert set(budget) == {"1000", "1001"} and all(b["epochs"] > 0 for b in budget.values())
    assert np.isin(demos.arrays()["teacher"], np.flatnonzero(demos.arrays()["mask"].any(0))).all()
    # the same branches labelled both objectives; either file trains
    from agents.simic.branch import with_objective
    other = load(with_objective(data, "return", tmp_path / "improved-return.npz"))
    for seed, ep in other.episodes.items():
        assert ep.teacher.tolist() == budget[str(seed)]["labels"]["return"]
        assert demos.episodes[seed].teacher.tolist() == budget[str(seed)]["labels"]["val"]


def test_concurrent_candidates_offer_a_second_seed_while_one_grows():
    env = gym.make("Esper-Tiny-v0", **SMALL)
    obs, info = env.reset(seed=1002)
    codec = ly.ActionCodec.layout()
    first = next(a for a in np.flatnonzero(info["action_mask"]) if codec.decode(a).op == ly.Op.GERMINATE)
    obs, _, _, _, info = env.step(int(first))
    report, mask = info["report"], info["action_mask"]
    assert any(s.stage in ly.ACTIVE_STAGES for s in report.slots)
    germ = [a for a in candidates(report, mask, 0, 2, codec, concurrent=True) if codec.decode(a).op == ly.Op.GERMINATE]
    assert germ and all(mask[a] for a in germ)
    assert not [a for a in candidates(report, mask, 0, 2, codec) if codec.decode(a).op == ly.Op.GERMINATE]


@pytest.mark.slow
def test_the_teacher_can_play_its_own_labels_with_a_schedule_rollout(tmp_path):
    from agents.schedule import Schedule, ScheduledSeed
    from agents.simic.branch import improve

    rollout = Schedule((ScheduledSeed(0.0, 0, "conv_residual", 1), ScheduledSeed(0.99, 1, "depthwise", 1)))
    rollout.save(tmp_path / "rollout.json")
    cfg = ImproveConfig("Esper-Tiny-v0", dict(SMALL, max_epochs=6), seeds=(1000,), behaviour="teacher",
                        rollout=f"schedule:{tmp_path / 'rollout.json'}", concurrent=True, stride=3,
                        out=tmp_path / "t.npz")
    demos = improve(cfg, progress=False)
    ep = demos.episodes[1000]
    assert ep.action.tolist() == ep.teacher.tolist()  # the teacher played what it labelled
    assert demos.meta["budget"]["1000"]["states"] >= 1
    with pytest.raises(FileNotFoundError, match="not found .relative to"):
        ImproveConfig(env_id="Esper-Tiny-v0", rollout=f"schedule:{tmp_path / 'missing.json'}").check()
    with pytest.raises(ValueError, match="behaviour"):
        ImproveConfig(env_id="Esper-Tiny-v0", behaviour="oracle").check()


def test_a_truncated_branch_is_the_prefix_of_the_full_one_and_agreement_counts_labels():
    from agents.simic.truncation import BranchedState, agreement

    env = gym.make("Esper-Tiny-v0", **SMALL)
    obs, info = env.reset(seed=1001)
    for _ in range(2):
        obs, _, _, _, info = env.step(0)
    own = HeuristicTamiyo().act(obs, info)
    cands = candidates(info["report"], info["action_mask"], own, max_germinate=2)
    snap = env.unwrapped.snapshot()
    timings = {}
    full = branch(env, snap, cands, HeuristicTamiyo, timings=timings)
    cut = branch(env, snap, cands, HeuristicTamiyo, horizon=3)
    assert set(timings) >= {"restore_s", "play_s"} and timings["play_s"] > 0  # both parts timed (how fast: benchmarks)
    for f, c in zip(full, cut):
        assert f.epochs == SMALL["max_epochs"] - 2 and c.epochs == 3 and len(f.val_curve) == f.epochs
        assert f.truncated(3) == c  # the same floats: a cut rollout is the full one's prefix
        assert f.val_curve[-1] == f.val_accuracy
    # hand-built: state A's full label (action 4) shows at h=2 but not at h=1; B is never contested
    a = BranchedState(1000, 0, 0, (Branch(0, 0.5, 0.0, 3, (0.40, 0.45, 0.50), (0.0, 0.0, 0.0)),
                                    Branch(4, 0.6, 0.0, 3, (0.40, 0.50, 0.60), (0.0, 0.0, 0.0))))
    b = BranchedState(1000, 1, 0, (Branch(0, 0.6, 0.0, 2, (0.50, 0.60), (0.0, 0.0)),
                                    Branch(4, 0.5, 0.0, 2, (0.55, 0.50), (0.0, 0.0))))
    assert a.label() == 4 and a.label(horizon=1) == 0 and a.label(horizon=2) == 4 and b.label() == 0
    h1, h2 = agreement([a, b], (1, 2))
    assert (h1.agree, h1.contested, h1.agree_contested) == (0.0, 1, 0.0)  # B's cut label (4) is wrong too
    assert (h2.agree, h2.agree_contested) == (1.0, 1.0)
    assert h1.cost == 2 / 5 and h2.cost == 4 / 5
    assert BranchedState.from_dict(a.to_dict()) == a


@pytest.mark.slow
def test_policy_iteration_rounds_run_end_to_end_resume_and_label_the_clones_own_states(tmp_path):
    import json

    from agents.simic.dataset import load
    from agents.simic.iterate import IterateConfig, iterate

    cfg = IterateConfig("Esper-Tiny-v0", dict(SMALL, max_epochs=6), rounds=1, episodes=3, stride=3, bc_epochs=5,
                        out=tmp_path / "pi")
    iterate(cfg, progress=False)
    first = {p: p.stat().st_mtime_ns for p in (tmp_path / "pi" / "round0").iterdir()}
    assert {p.name for p in first} >= {"labels.npz", "policy.zip"}
    cfg.rounds = 2
    summary = iterate(cfg, progress=False)  # adds round 1, leaves round 0 alone
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "pi" / "round0").iterdir()} == first
    r1 = summary["rounds"]["1"]
    assert r1["seeds"] == [1003, 1004, 1005] and r1["branch_epochs"] > 0
    assert r1["behaviour"] == r1["rollout"] == f"policy:{portable(cfg.policy(0))}"  # as records keep paths
    assert len(r1["trained_on"]) == 2  # DAgger: the labels of rounds 0 and 1 together
    again = {p: p.stat().st_mtime_ns for p in (tmp_path / "pi").rglob("*") if p.is_file()}
    assert iterate(cfg, progress=False) == json.loads((tmp_path / "pi" / "iterate.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "pi").rglob("*") if p.is_file()} == again  # nothing redone
    # round 1's states are those round 0's clone visits: replaying the clone reproduces every played command
    clone = make_agent(f"policy:{cfg.policy(0)}")
    env = gym.make("Esper-Tiny-v0", **dict(SMALL, max_epochs=6))
    for seed, ep in load(cfg.labels(1)).episodes.items():
        obs, info = env.reset(seed=seed)
        played = []
        for t in range(len(ep.action)):
            assert np.array_equal(ep.obs[t], obs)  # the recorded state is the one the clone reached
            played.append(int(clone.act(obs, info)))
            obs, _, _, _, info = env.step(played[-1])
        assert played == ep.action.tolist()


def test_bad_iterate_settings_are_refused_before_any_work(tmp_path):
    from agents.simic.iterate import IterateConfig

    with pytest.raises(ValueError, match="episodes must be an integer >= 2"):
        IterateConfig("Esper-Tiny-v0", episodes=1, out=tmp_path).check()
    with pytest.raises(ValueError, match="training seeds"):
        IterateConfig("Esper-Tiny-v0", first_seed=990, out=tmp_path).check()  # round 0 from 990
    with pytest.raises(ValueError, match="rollout must be 'policy'"):
        IterateConfig("Esper-Tiny-v0", rollout="random", out=tmp_path).check()
    with pytest.raises(FileNotFoundError, match="not found .relative to"):
        IterateConfig("Esper-Tiny-v0", start=f"policy:{tmp_path / 'missing.zip'}", out=tmp_path).check()
    assert not list(tmp_path.iterdir())  # nothing written
    assert main(["iterate", "--env", "Esper-Tiny-v0", "--episodes", "1", "--out", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_esper_iterate_on_the_command_line_runs_a_round_and_says_what_it_made(tmp_path, capsys):
    """The success path of `esper iterate` as a user types it: one round labelled, cloned, summarised."""
    import json

    out = tmp_path / "pi"
    assert main(["iterate", "--env", "Esper-Tiny-v0", "--rounds", "1", "--episodes", "2", "--stride", "3",
                 "--bc-epochs", "3", "--out", str(out), "--quiet", *SET, "--set", "max_epochs=6"]) == 0
    said = capsys.readouterr().out
    summary = json.loads((out / "iterate.json").read_text())
    r0 = summary["rounds"]["0"]
    assert f"round 0: {r0['behaviour']} played 2 episodes (seeds 1000-1001)" in said
    assert f"summary: {out}/iterate.json" in said and (out / "round0" / "policy.zip").is_file()
    assert r0["branch_epochs"] > 0 and 0.0 <= r0["held_out_agreement"] <= 1.0


def test_growing_focus_branches_the_own_command_against_culling_each_growing_seed(tmp_path):
    """focus="growing" (Simic v4 attempt 4): the states and branches are those of lab.headroom.cull_branches -- the
    same CULL values, from the same reactive episode -- and nothing else is branched."""
    from agents.simic.branch import growing_candidates, improve
    from lab.headroom import cull_branches

    small = dict(train_size=256, val_size=128, test_size=128, max_epochs=8, fault_p=0.5)
    codec = ly.ActionCodec.layout()
    env = gym.make("Esper-Faulty-v0", **small)
    obs, info = env.reset(seed=1001)
    assert growing_candidates(info["report"], info["action_mask"], 0, codec) == [0]  # nothing grows: no branch
    demos = improve(ImproveConfig("Esper-Faulty-v0", small, seeds=(1001,), behaviour="reactive", rollout="reactive",
                                  race=4, focus="growing", out=tmp_path / "g.npz"), progress=False)
    branched = demos.meta["budget"]["1001"]["branched"]
    assert branched and demos.meta["labelling"]["focus"] == "growing"
    culls = []
    for b in branched:
        others = [int(a) for a in b["values"] if int(a) != b["own"]]
        assert others and all(codec.decode(a).op == ly.Op.CULL for a in others)
        culls += [100 * (b["values"][str(a)][0] - b["values"][str(b["own"])][0]) for a in others]
    expected = [100 * r["advantage"] for r in cull_branches(1001, **small)]
    assert sorted(culls) == pytest.approx(sorted(expected), abs=1e-9)
    with pytest.raises(ValueError, match="focus"):
        ImproveConfig(env_id="Esper-Tiny-v0", focus="everywhere").check()
