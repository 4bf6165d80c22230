"""The episode-variant hook: a task whose data or seeds change mid-episode is a subclass, not an env edit."""

import numpy as np
import torch

from esper_env.env import EsperEnv
from esper_env.leyline import LAYOUT_CODEC, Command
from esper_env.variants import EpisodeVariant

SWITCH = 2
"""The epoch the test variants change at."""


class LateSubset(EpisodeVariant):
    """From epoch SWITCH on, train on the first quarter of the training split and validate on the training split."""

    def train_loader(self, epoch, loaders):
        return loaders.train_subset(0.25) if epoch >= SWITCH else loaders.train

    def val_loader(self, epoch, loaders):
        return loaders.train if epoch > SWITCH else loaders.val


class SilencedSeeds(EpisodeVariant):
    """Every germinated seed starts with all parameters zero; records each call."""

    calls: list = []

    def germinated(self, slot, epoch):
        SilencedSeeds.calls.append((slot.blueprint, epoch))
        with torch.no_grad():
            for p in slot.seed.parameters():
                p.zero_()


class LateSubsetEnv(EsperEnv):
    variant_class = LateSubset


class SilencedEnv(EsperEnv):
    variant_class = SilencedSeeds


def play(env, actions, seed=3):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, reward, *_ = env.step(a)
        out.append(obs)
    return out


def test_the_default_variant_is_stationary():
    env = EsperEnv("tiny")
    env.reset(seed=0)
    assert type(env.variant) is EpisodeVariant and env.variant.seed == env.state.seed_base
    assert env.variant.train_loader(5, env._loaders) is env.train_loader
    assert env.variant.val_loader(5, env._loaders) is env.val_loader


def test_a_data_variant_changes_nothing_before_its_epoch_and_something_after():
    actions = [0] * 5
    plain = play(EsperEnv("tiny"), actions)
    late = play(LateSubsetEnv("tiny"), actions)
    for k in range(SWITCH + 1):  # the reset and the reports after epochs 0 .. SWITCH-1
        np.testing.assert_array_equal(plain[k], late[k], err_msg=f"observation {k} differs before the switch")
    assert not np.array_equal(plain[SWITCH + 1], late[SWITCH + 1])


def test_a_data_variant_counts_the_flops_it_trains():
    plain, late = EsperEnv("tiny"), LateSubsetEnv("tiny")
    play(plain, [0] * 4)
    play(late, [0] * 4)
    assert late.state.flops.train < plain.state.flops.train


def test_the_germination_hook_sees_each_seed_and_may_change_it():
    SilencedSeeds.calls = []
    seeds = {}
    for cls in (EsperEnv, SilencedEnv):
        env = cls("tiny")
        germ = LAYOUT_CODEC.encode(Command.germinate(env.config.slots[0], "conv_residual"))
        env.reset(seed=1)
        env.step(0)
        env.step(germ)
        seeds[cls] = [p.detach().clone() for p in env.model.slots[0].seed.parameters()]
    assert SilencedSeeds.calls == [("conv_residual", 1)]  # once, with the epoch it was germinated at
    norm = {cls: sum(float(p.abs().sum()) for p in ps) for cls, ps in seeds.items()}
    assert norm[SilencedEnv] < 0.5 * norm[EsperEnv]  # one epoch of training from zero stays far from the init


def test_a_restored_variant_episode_continues_exactly():
    actions = [0, 0, 0, 0, 0]
    env = LateSubsetEnv("tiny")
    env.reset(seed=4)
    env.step(0)
    snap = env.snapshot()
    rest = [env.step(a)[:2] for a in actions[1:]]
    other = LateSubsetEnv("tiny")
    other.reset(seed=99)
    other.restore(snap)
    again = [other.step(a)[:2] for a in actions[1:]]
    for (o1, r1), (o2, r2) in zip(rest, again):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
