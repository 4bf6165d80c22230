"""Simic v4: a critic of the branches (labels a report can predict), the blind ablation's masked network, and
policy iteration with racing labels and the critic."""

import gymnasium as gym
import numpy as np
import pytest

from agents import make_agent
from agents.policy import ResidualPolicyAgent
from agents.residual import observe_mask, read_residual
from agents.schedule import Schedule, ScheduledSeed
from agents.simic.critic import CriticConfig, Rows, fit
from esper_env.leyline import observation_fields

SMALL = dict(train_size=96, val_size=32, test_size=32, max_epochs=10, blend_epochs=1, plateau_threshold=1.0)
FIELDS = observation_fields()


def _rows(n_seeds: int = 40, noise: float = 2.0, seed: int = 0) -> tuple[Rows, int]:
    """Branched states where action 3 is worth +2 points over the own command (0) when field ``val_acc`` is high
    and -2 when it is low, plus per-seed noise larger than the effect."""
    rng = np.random.default_rng(seed)
    k = FIELDS.index("val_acc")
    obs, act, adv, seeds = [], [], [], []
    for s in range(n_seeds):
        for _ in range(4):
            o = rng.uniform(0, 0.2, len(FIELDS)).astype(np.float32)
            o[k] = rng.choice([0.1, 0.9])
            o[FIELDS.index("progress")], o[FIELDS.index("budget_left")] = 0.1, 0.9  # the same epoch everywhere
            effect = 2.0 if o[k] > 0.5 else -2.0
            obs += [o, o]
            act += [0, 3]
            adv += [0.0, effect + rng.normal(0, noise)]
            seeds += [s, s]
    return Rows(np.stack(obs), np.array(act), np.array(adv, np.float32), np.array(seeds), np.array(act) == 0), k


def test_the_critic_learns_what_the_report_predicts_not_one_seeds_noise():
    data, k = _rows()
    critic = fit(data, 8, CriticConfig(epochs=300, ensemble=3))
    high, low = np.full(len(FIELDS), 0.1, np.float32), np.full(len(FIELDS), 0.1, np.float32)
    high[k], low[k] = 0.9, 0.1
    assert critic.label(high, own=0, candidates=[0, 3], margin=0.25) == 3
    assert critic.label(low, own=0, candidates=[0, 3], margin=0.25) == 0
    # blind: a critic that reads only the epoch cannot tell the two apart, and keeps the own command on both
    blind = fit(data, 8, CriticConfig(epochs=300, ensemble=3, observe=("progress", "budget_left")))
    assert blind.label(high, 0, [0, 3], 0.5) == blind.label(low, 0, [0, 3], 0.5) == 0


def test_observe_masks_only_the_named_fields_and_refuses_unknown_ones():
    m = observe_mask(("progress", "budget_left"))
    assert m.sum() == 2 and m[FIELDS.index("progress")] == 1 and observe_mask(None).all()
    with pytest.raises(ValueError, match="unknown observation fields"):
        observe_mask(("progress", "isolated_loss"))


@pytest.mark.slow
def test_policy_iteration_with_racing_labels_and_the_critic_writes_a_blind_residual_clone(tmp_path):
    from agents.simic.dataset import load
    from agents.simic.iterate import IterateConfig, iterate

    plan = Schedule((ScheduledSeed(0.0, 1, "conv_residual", 1),)).save(tmp_path / "p.json")
    blind = ("progress", "budget_left")
    cfg = IterateConfig("Esper-Tiny-v0", SMALL, rounds=2, episodes=3, start=f"schedule:{plan}", residual=plan,
                        stride=3, bc_epochs=5, race=1, critic=True, observe=blind, out=tmp_path / "pi")
    summary = iterate(cfg, progress=False)
    for k in ("0", "1"):
        r = summary["rounds"][k]
        assert r["critic"]["states"] > 0 and 0.0 <= r["critic"]["held_out"]["agree"] <= 1.0
    labels = load(cfg.labels(0))
    assert all(b["branched"] for b in labels.meta["budget"].values())
    assert load(cfg.critic_labels(0)).meta["labelling"]["critic"]["observe"] == list(blind)
    assert read_residual(cfg.policy(1)).observe == blind
    clone = make_agent(f"policy:{cfg.policy(1)}")
    assert isinstance(clone, ResidualPolicyAgent)
    env = gym.make("Esper-Tiny-v0", **SMALL)
    obs, info = env.reset(seed=5)
    noisy = np.where(observe_mask(blind) > 0, obs, np.float32(0.37))  # what it does not read cannot matter
    assert clone.act(obs, info) == clone.act(noisy, info)


def _scored(data: Rows):
    from agents.simic.critic import Scored

    return [Scored(int(data.seed[i]), data.obs[i], 0, [0, 3], {0: 0.0, 3: float(data.advantage[i + 1])})
            for i in range(0, len(data.seed), 2)]


def test_the_margin_is_picked_on_held_out_seeds_and_the_critic_abstains_where_no_deviation_pays():
    import math

    from agents.simic.critic import pick_margin

    cfg = CriticConfig(epochs=150, ensemble=2, folds=2, margins=(0.25, 1.0, 50.0))
    data, _ = _rows()  # deviating where val_acc is high pays 2 points
    margin, scores = pick_margin(_scored(data), data, 8, cfg)
    assert margin in (0.25, 1.0)
    assert max(s.realised for s in scores) > 0 and next(s for s in scores if s.margin == 50.0).deviations == 0
    bad = Rows(data.obs, data.action, np.where(data.action == 3, data.advantage - 4.0, 0.0).astype(np.float32),
               data.seed, data.own)  # -2 or -6 points: never worth it
    margin, scores = pick_margin(_scored(bad), bad, 8, cfg)
    assert math.isinf(margin) and all(s.realised <= 0 for s in scores)


def test_a_seed_critic_reads_the_culled_seeds_own_report_and_carries_it_to_every_slot():
    """form="seed": culling a seed pays where *its* potential is low; learned from slot 1's seeds only, it culls a
    seed in slot 2 whose potential is low and keeps one whose potential is sound, whatever the rest of the report."""
    from agents.simic.critic import SEED_ENTRIES, seed_view
    from esper_env.leyline import LAYOUT_CODEC, Command

    rng = np.random.default_rng(0)
    cull1, cull2 = (LAYOUT_CODEC.encode(Command.cull(k)) for k in (1, 2))
    pot = FIELDS.index("slot1_potential")
    obs, act, adv, seeds = [], [], [], []
    for s in range(40):
        for _ in range(4):
            o = rng.uniform(-1, 1, len(FIELDS)).astype(np.float32)  # the rest of the report: noise
            o[pot] = rng.choice([-0.6, 0.2])  # potential -6 or +2 points
            obs += [o, o]
            act += [0, cull1]
            adv += [0.0, (4.0 if o[pot] < 0 else -2.0) + rng.normal(0, 3.0)]
            seeds += [s, s]
    data = Rows(np.stack(obs), np.array(act), np.array(adv, np.float32), np.array(seeds), np.array(act) == 0)
    n = len(LAYOUT_CODEC.commands)
    critic = fit(data, n, CriticConfig(epochs=300, ensemble=3, hidden=16, form="seed"))
    for low in (True, False):
        o = rng.uniform(-1, 1, len(FIELDS)).astype(np.float32)
        o[FIELDS.index("slot2_potential")] = -0.6 if low else 0.2
        for e in SEED_ENTRIES[1:]:
            o[FIELDS.index(f"slot2_{e}")] = data.obs[:, FIELDS.index(f"slot1_{e}")].mean()
        assert critic.label(o, own=0, candidates=[0, cull2], margin=0.5) == (cull2 if low else 0)
    assert len(seed_view(3)) == 1 + 3 * len(SEED_ENTRIES) and set(seed_view(3)) <= set(FIELDS)
    with pytest.raises(ValueError, match="CULL branches"):
        fit(_rows()[0], n, CriticConfig(form="seed"))


def test_a_critic_config_reads_back_from_the_summary_it_wrote_an_abstaining_margin_as_inf():
    import json
    import math

    from agents.simic.critic import CriticConfig, _config_json

    cfg = CriticConfig(hidden=16, margins=(0.25, 0.5), observe=("progress",), form="seed", margin=0.5)
    assert CriticConfig.from_json(json.loads(json.dumps(_config_json(cfg)))) == cfg
    abstained = CriticConfig.from_json(json.loads(json.dumps(_config_json(CriticConfig(margin=math.inf)))))
    assert math.isinf(abstained.margin)
