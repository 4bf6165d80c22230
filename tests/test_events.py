"""Hidden events (issue 35): drawn per seed, played by esper_env.variants, never named by the report."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import esper_env
from esper_env.config import ConfigError, make_config
from esper_env.env import EsperEnv
from esper_env.leyline import LAYOUT_CODEC, Command
from esper_env.tasks import faulty_family, stream_family, task_distribution
from esper_env.variants import FaultySeeds, NewClasses

SMALL = dict(train_size=256, val_size=128, test_size=128, max_epochs=8)
"""Fast's task, smaller: a few seconds an episode."""


def stream(tau: int, **kw) -> EsperEnv:
    return EsperEnv("fast", **SMALL, event="new_classes", event_epoch=tau, first_classes=5, replay=0.5, **kw)


def play(env, actions, seed=3):
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0)]
    for a in actions:
        obs, reward, *_ = env.step(a)
        out.append((obs, reward))
    return out


def test_the_event_is_a_pure_function_of_the_seed_and_held_out_values_are_never_drawn_for_training():
    for name, field, train, held in (("stream", "event_epoch", {4, 6, 8, 10}, {5, 7, 9}),
                                     ("faulty", "fault_p", {0.25, 0.5, 0.75}, {0.4, 0.6})):
        dist = task_distribution(name)
        draws = [getattr(dist.draw(s), field) for s in range(1000, 1100)]
        assert draws == [getattr(dist.draw(s), field) for s in range(1000, 1100)]  # the same seed, the same event
        assert set(draws) == train  # every training value is drawn, nothing else
        assert {getattr(dist.draw(s, "heldout"), field) for s in range(100)} == held


def test_the_report_never_names_the_event():
    env = gym.make("Esper-Stream-v0", **SMALL)
    _, info = env.reset(seed=1000)
    text = repr(info["report"]) + " ".join(env.unwrapped.observation_fields)
    assert info["task"].event == "new_classes"  # the task knows it (a debugging aid for people) ...
    assert not any(w in text for w in ("event", "fault", "first_classes", "replay"))  # ... the report does not
    assert info["report"].task == EsperEnv("fast", **SMALL).reset(seed=1000)[1]["report"].task  # nor its context


def test_episodes_that_differ_only_in_the_event_epoch_are_identical_until_it():
    early, late = play(stream(4), [0] * 6), play(stream(7), [0] * 6)
    for e in range(5):  # the reports after 0..4 epochs: every epoch so far trained on the first classes
        np.testing.assert_array_equal(early[e][0], late[e][0], err_msg=f"report {e}")
        assert early[e][1] == late[e][1]
    assert not np.array_equal(early[5][0], late[5][0])  # epoch 4 trained on every class in the early episode


def test_new_classes_train_on_the_stream_and_validate_on_what_it_has_shown():
    env = stream(3)
    env.reset(seed=0)
    v, loaders = env.variant, env._loaders
    assert isinstance(v, NewClasses)
    before, after = v.train_loader(0, loaders), v.train_loader(3, loaders)
    assert set(before.labels.tolist()) == set(range(5))
    assert set(after.labels.tolist()) == set(range(10))
    old = (loaders.train.labels < 5).sum().item()
    assert (after.labels < 5).sum().item() == round(0.5 * old)  # the replay fraction of the first classes
    assert (after.labels >= 5).sum().item() == (loaders.train.labels >= 5).sum().item()  # every new image
    assert set(v.val_loader(3, loaders).labels.tolist()) == set(range(5))  # nothing new trained yet
    assert v.val_loader(4, loaders) is loaders.val  # after an epoch on every class: every class
    assert v.train_loader(5, loaders) is after  # built once


def test_the_failure_mechanism_fires_at_its_stated_rate():
    for p in (0.25, 0.6):
        config = make_config("fast", event="faulty_seeds", fault_p=p)
        fails = [FaultySeeds(config, seed).failed(slot, epoch) for seed in range(200) for slot in range(2)
                 for epoch in range(5)]
        rate, n = np.mean(fails), len(fails)
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n), (p, rate)  # 4 sigma: a wrong mechanism fails this


def test_a_failed_seed_trains_at_the_fault_learning_rate_for_its_whole_life():
    from esper_env.variants import FAULT_LR_SCALE

    lrs = {}
    for p in (0.0, 1.0):
        env = EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=p)
        env.reset(seed=2)
        env.step(LAYOUT_CODEC.encode(Command.germinate(env.config.slots[0], "conv_residual")))
        lrs[p] = []
        for _ in range(3):
            env.step(0)
            lrs[p].append(next(g["lr"] for g in env.model.optimizer.param_groups if g["name"] == "seed0"))
    assert lrs[0.0][0] > 0 and np.allclose(np.array(lrs[1.0]), FAULT_LR_SCALE * np.array(lrs[0.0]))


@pytest.mark.parametrize("event", ["new_classes", "faulty_seeds"])
def test_snapshots_restore_a_mid_event_episode_exactly(event):
    kw = dict(event_epoch=3, first_classes=5, replay=0.5) if event == "new_classes" else dict(fault_p=0.5)
    env = EsperEnv("fast", **SMALL, event=event, **kw)
    germ = LAYOUT_CODEC.encode(Command.germinate(env.config.slots[0], "conv_residual"))
    env.reset(seed=5)
    env.step(germ)
    env.step(0)
    snap = env.snapshot()
    rest = [env.step(a)[:2] for a in (0, 0, 0)]  # across the event's epoch
    other = EsperEnv("fast", **SMALL, event=event, **kw)
    other.reset(seed=77)
    other.restore(snap)
    for (o1, r1), (o2, r2) in zip(rest, [other.step(a)[:2] for a in (0, 0, 0)]):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2


def test_event_ids_are_deterministic():
    for env_id in ("Esper-Stream-v0", "Esper-Faulty-v0"):
        runs = [play(gym.make(env_id, **dict(SMALL, max_epochs=4)).unwrapped, [1, 0, 0, 0], seed=1001)
                for _ in range(2)]
        for (o1, r1), (o2, r2) in zip(*runs):
            np.testing.assert_array_equal(o1, o2)
            assert r1 == r2


def test_event_settings_are_checked_and_families_too():
    with pytest.raises(ConfigError, match="event"):
        make_config("fast", event="meteor")
    with pytest.raises(ConfigError, match="fault_p"):
        make_config("fast", event="faulty_seeds", fault_p=1.5)
    with pytest.raises(ConfigError, match="first_classes"):
        make_config("fast", first_classes=11)
    with pytest.raises(ConfigError, match="held-out event epoch"):
        dataclasses.replace(stream_family(), heldout_event_epochs=(4,)).check()
    with pytest.raises(ConfigError, match="must fit every budget"):
        dataclasses.replace(stream_family(), event_epochs=(40,)).check()
    faulty_family().check()
    assert {"Esper-Stream-v0", "Esper-Faulty-v0"} <= set(esper_env.ENV_IDS)


def test_the_report_measures_an_isolated_seeds_own_loss():
    env = EsperEnv("fast", **SMALL)
    slot = env.config.slots[0]
    _, info = env.reset(seed=4)
    assert all(s.isolated_loss == 0.0 for s in info["report"].slots)  # nothing isolated yet
    _, _, _, _, info = env.step(LAYOUT_CODEC.encode(Command.germinate(slot, "conv_residual")))
    losses = []
    for _ in range(3):
        s = next(s for s in info["report"].slots if s.index == slot)
        losses.append(s.isolated_loss)
        _, _, _, _, info = env.step(0)
    assert all(0 < x < 10 for x in losses) and losses[-1] < losses[0]  # a sound seed alone learns
    other = next(s for s in info["report"].slots if s.index != slot)
    assert other.isolated_loss == 0.0  # a DORMANT slot has none


@pytest.mark.slow
def test_the_reactive_heuristic_culls_a_failing_seed_at_its_first_report_and_grows_again():
    """On Fast a failed seed after the last block shows at its first report (its own loss far above the host's);
    the reactive heuristic culls it at that decision, and grows again when the embargo ends."""
    from agents import ReactiveTamiyo, run_episode

    env = EsperEnv("fast", event="faulty_seeds", fault_p=1.0)
    record = run_episode(env, ReactiveTamiyo(), seed=6)
    commands = [s.command for s in record.steps]
    assert commands[0] == "GERMINATE(slot=2, conv_residual)" and commands[1] == "CULL(slot=2)"  # 1 epoch later
    assert "diverged" in record.steps[1].reason
    assert sum(c.startswith("GERMINATE") for c in commands) >= 2  # it grows again

    sound = run_episode(EsperEnv("fast", event="faulty_seeds", fault_p=0.0), ReactiveTamiyo(), seed=6)
    kept = [s.command for s in sound.steps]
    assert not any(c.startswith("CULL") for c in kept) and sound.outcome.seeds_fossilized == 2  # the plan
