"""Simic v4: racing labels (successive halving across candidates) -- played for real, read off full branches."""

import gymnasium as gym
import pytest

from agents import HeuristicTamiyo
from agents.simic.branch import ImproveConfig, candidates, improve
from agents.simic.racing import agreement_table, race_label
from agents.simic.rollout import best_branch, branch, halving, race
from agents.simic.truncation import BranchedState

SMALL = dict(train_size=96, val_size=32, test_size=32, max_epochs=10, blend_epochs=1, plateau_threshold=1.0)


def test_halving_drops_the_worse_half_per_rung_until_one_is_left():
    values = {1: 0.1, 2: 0.4, 3: 0.3, 4: 0.2, 5: 0.5}
    survivors, played = halving(list(values), lambda a, k: values[a] + (0.5 if a == 1 and k >= 4 else 0), 2, 20)
    # rung 2: keep 5, 2, 3 (ceil 5/2); rung 4: keep 5, 2; rung 8: keep 5
    assert survivors == [5] and played == {1: 2, 4: 2, 3: 4, 2: 8}
    assert halving([1, 2], lambda a, k: values[a], 4, 4) == ([1, 2], {})  # the first rung reaches the end: no race
    assert halving([7], lambda a, k: 0.0, 1, 9) == ([7], {})


def _state():
    env = gym.make("Esper-Tiny-v0", **SMALL)
    obs, info = env.reset(seed=1001)
    for _ in range(2):
        obs, _, _, _, info = env.step(0)
    own = HeuristicTamiyo().act(obs, info)
    cands = candidates(info["report"], info["action_mask"], own, max_germinate=3)
    return env, env.unwrapped.snapshot(), cands, own


@pytest.mark.parametrize("gap", [None, 0.02])
def test_racing_for_real_equals_racing_read_off_full_branches(gap):
    env, snap, cands, own = _state()
    assert len(cands) >= 4
    full = branch(env, snap, cands, HeuristicTamiyo)
    state = BranchedState(1001, 2, own, tuple(full))
    others = [a for a in cands if a != own]
    survivors, dropped, spent = race(env, snap, others, HeuristicTamiyo, 1, "val", gap=gap)
    by_action = {b.action: b for b in full}
    for b in survivors:  # a surviving branch resumed from its own snapshots is the full branch, bit for bit
        assert b.val_curve == by_action[b.action].val_curve and b.return_curve == by_action[b.action].return_curve
    for a, v in dropped.items():
        assert v == by_action[a].val_curve[0] or v in by_action[a].val_curve
    own_b = by_action[own]
    label, cost = race_label(state, 1, "val", gap=gap)
    assert best_branch([own_b, *survivors], own, "val", 0.0) == label
    assert cost == spent < sum(b.epochs for b in full) - own_b.epochs  # cheaper than the others in full
    (row,) = agreement_table([state], (1,), gap=gap)
    assert row.cost == pytest.approx(cost / state.epochs())


def test_racing_labels_with_the_own_command_free_equal_those_with_it_played(tmp_path):
    common = dict(env_id="Esper-Tiny-v0", overrides=SMALL, seeds=(1002,), stride=3, max_germinate=2, race=1)
    free = improve(ImproveConfig(**common, out=tmp_path / "free.npz"), progress=False)
    kept = improve(ImproveConfig(**common, behaviour="teacher", out=tmp_path / "kept.npz"), progress=False)
    b_free, b_kept = free.meta["budget"]["1002"], kept.meta["budget"]["1002"]
    assert b_free["branched"] and b_free["epochs"] < b_kept["epochs"]
    first_free, first_kept = b_free["branched"][0], b_kept["branched"][0]  # the same state
    assert first_free["step"] == first_kept["step"]
    own = str(first_free["own"])
    assert first_free["values"][own] == pytest.approx(first_kept["values"][own], abs=0)
    assert b_free["labels"]["val"][first_free["step"]] == b_kept["labels"]["val"][first_kept["step"]]
    with pytest.raises(ValueError, match="race"):
        ImproveConfig(env_id="Esper-Tiny-v0", race=-1).check()


def test_a_race_ranked_on_a_window_averages_the_last_epochs_and_can_keep_a_branch_a_noisy_epoch_would_drop():
    from agents.simic.racing import ranked_value
    from agents.simic.rollout import Branch

    assert ranked_value((0.1, 0.3, 0.2), 3, 2) == pytest.approx(0.25)
    assert ranked_value((0.1, 0.3, 0.2), 1, 2) == pytest.approx(0.1)  # nothing before the first epoch
    assert ranked_value((0.1, 0.3), 5, 1) == pytest.approx(0.3)  # a branch that ended: its last value

    def b(action, curve):
        return Branch(action, curve[-1], 0.0, len(curve), tuple(curve), tuple(0.0 for _ in curve))

    # the eventual winner (2) dips at epoch 2 only; own (0) is the rollout's command, 1 and 2 race from rung 2
    state = BranchedState(1000, 0, 0, (b(0, [0.2] * 8), b(1, [0.30, 0.30, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]),
                                       b(2, [0.40, 0.25, 0.4, 0.4, 0.5, 0.5, 0.5, 0.5])))
    assert state.label() == 2
    assert race_label(state, 2, window=1)[0] == 1  # ranked on epoch 2 alone, the winner is dropped
    assert race_label(state, 2, window=2)[0] == 2  # on the mean of epochs 1-2 it survives
    assert race_label(state, 2, window=2)[1] == race_label(state, 2, window=1)[1]  # at the same cost


def test_racing_by_the_leaders_gap_drops_only_the_clearly_beaten_and_lets_near_ties_play_to_the_end():
    values = {1: 0.10, 2: 0.40, 3: 0.39, 4: 0.30, 5: 0.385}
    survivors, played = halving(list(values), lambda a, k: values[a], 2, 20, gap=0.02)
    assert survivors == [2, 3, 5] and played == {1: 2, 4: 2}  # within 2 points of the leader: all play on
    assert halving(list(values), lambda a, k: values[a], 2, 20, gap=0.5) == ([1, 2, 3, 4, 5], {})
    assert halving(list(values), lambda a, k: values[a], 2, 20)[0] == [2]  # halving keeps only the leader


def test_a_race_by_the_gap_keeps_a_near_tied_winner_halving_drops_and_says_what_a_wrong_label_lost():
    from agents.simic.rollout import Branch

    def b(action, curve):
        return Branch(action, curve[-1], 0.0, len(curve), tuple(curve), tuple(0.0 for _ in curve))

    # own (0); the eventual winner (2) trails 1 and 4 by a point at epoch 2 (halving keeps the better two); 3 is far
    # behind
    winner = b(2, [0.30, 0.30, 0.3, 0.4, 0.4, 0.4, 0.4, 0.4])
    state = BranchedState(1000, 0, 0, (b(0, [0.2] * 8), b(1, [0.31] * 8), winner, b(3, [0.1] * 8), b(4, [0.305] * 8)))
    halved, gapped = race_label(state, 2), race_label(state, 2, gap=0.02)
    assert halved[0] == 1 and gapped[0] == 2 == state.label()
    assert gapped[1] > halved[1]  # the near tie costs epochs: both play to the end
    (h,) = agreement_table([state], (2,))
    (g,) = agreement_table([state], (2,), gap=0.02)
    assert (h.agree, g.agree) == (0.0, 1.0) and h.lost == pytest.approx(0.09) and g.lost == 0
    assert g.gap == 0.02 and h.gap is None


def test_a_gap_without_a_rung_is_refused_before_any_work():
    with pytest.raises(ValueError, match="race_gap"):
        ImproveConfig(env_id="Esper-Tiny-v0", race=0, race_gap=0.02).check()
    with pytest.raises(ValueError, match="race_gap"):
        ImproveConfig(env_id="Esper-Tiny-v0", race=2, race_gap=-0.1).check()


def test_a_retest_branches_the_same_states_on_another_data_order_and_reads_labels_across_them():
    from agents.simic.racing import retest
    from agents.simic.truncation import record_episode

    cfg = dict(rollout="heuristic", max_germinate=2, stride=3, concurrent=False)
    first, _ = record_episode("Esper-Tiny-v0", SMALL, cfg, 1003)
    second, _ = record_episode("Esper-Tiny-v0", SMALL, dict(cfg, redraw=1), 1003)
    again, _ = record_episode("Esper-Tiny-v0", SMALL, dict(cfg, redraw=1), 1003)
    assert len(first) == len(second) >= 2
    assert [(s.epoch, s.own) for s in first] == [(s.epoch, s.own) for s in second]  # the episode is unchanged
    assert [b.val_curve for s in second for b in s.branches] == [b.val_curve for s in again for b in s.branches]
    assert any(a.val_curve != b.val_curve for s, t in zip(first, second) for a, b in zip(s.branches, t.branches))
    r = retest(first, second, rung=1, gap=None)
    assert r.states == len(first) and 0 <= r.full_repeats <= 1
    assert retest(first, first, rung=1, gap=None).full_repeats == 1.0  # a label repeats on its own branches
    for values in (r.full_value, r.raced_value):
        assert all(v <= best + 1e-12 for v, best in zip(values, r.best_value))  # the second order's best bounds them
    with pytest.raises(ValueError, match="retest states differ"):
        retest(first, second[::-1], rung=1, gap=None)


def test_a_label_averaged_over_draws_reads_each_candidates_mean_curve_and_refuses_other_states():
    from agents.simic.rollout import Branch
    from agents.simic.truncation import mean_of_draws

    def b(action, curve):
        return Branch(action, curve[-1], 0.0, len(curve), tuple(curve), tuple(0.0 for _ in curve))

    one = BranchedState(1000, 2, 0, (b(0, [0.30, 0.30]), b(1, [0.30, 0.36])))  # 1 wins by 6 points on this order
    two = BranchedState(1000, 2, 0, (b(0, [0.30, 0.34]), b(1, [0.30, 0.30])))  # 0 by 4 on that one
    mean = mean_of_draws([one, two])
    assert [x.val_curve[-1] for x in mean.branches] == pytest.approx([0.32, 0.33])
    assert (one.label(), two.label(), mean.label()) == (1, 0, 1)
    assert mean_of_draws([one]).branches == one.branches
    with pytest.raises(ValueError, match="different states"):
        mean_of_draws([one, BranchedState(1001, 2, 0, two.branches)])
