"""Hidden events (issue 35): drawn per seed, played by esper_env.variants, never named by the report."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import esper_env
from esper_env.config import ConfigError, make_config
from esper_env.env import EsperEnv
from esper_env.leyline import LAYOUT_CODEC, Command
from esper_env.tasks import capacity_family, faulty_family, shift_family, stream_family, task_distribution
from esper_env.variants import SHIFTS, DomainShift, FaultySeeds, FewClasses, NewClasses

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
                                     ("faulty", "fault_p", {0.25, 0.5, 0.75}, {0.4, 0.6}),
                                     ("shift", "event_epoch", {4, 6, 8, 10}, {5, 7, 9}),
                                     ("shift", "shift_kind", {"negative", "rotate", "noise"}, {"blur", "colour"}),
                                     ("capacity", "first_classes", {2, 4, 10}, {3, 6})):
        dist = task_distribution(name)
        draws = [getattr(dist.draw(s), field) for s in range(1000, 1100)]
        assert draws == [getattr(dist.draw(s), field) for s in range(1000, 1100)]  # the same seed, the same event
        assert set(draws) == train  # every training value is drawn, nothing else
        assert {getattr(dist.draw(s, "heldout"), field) for s in range(100)} == held


@pytest.mark.parametrize("env_id,event", [("Esper-Stream-v0", "new_classes"), ("Esper-Faulty-v0", "faulty_seeds"),
                                          ("Esper-Shift-v0", "domain_shift"), ("Esper-Capacity-v0", "few_classes")])
def test_the_report_never_names_the_event(env_id, event):
    env = gym.make(env_id, **SMALL)
    _, info = env.reset(seed=1000)
    text = repr(info["report"]) + " ".join(env.unwrapped.observation_fields)
    assert info["task"].event == event  # the task knows it (a debugging aid for people) ...
    assert not any(w in text for w in ("event", "fault", "first_classes", "replay", "shift"))  # ... the report does
    assert info["report"].num_classes == 10  # not (a task with fewer classes still reports the dataset's ten),
    assert info["report"].task == EsperEnv("fast", **SMALL).reset(seed=1000)[1]["report"].task  # nor its context


def shift(tau: int, kind: str = "negative", **kw) -> EsperEnv:
    return EsperEnv("fast", **SMALL, event="domain_shift", event_epoch=tau, shift_kind=kind, **kw)


@pytest.mark.parametrize("make", [stream, shift])
def test_episodes_that_differ_only_in_the_event_epoch_are_identical_until_it(make):
    early, late = play(make(4), [0] * 6), play(make(7), [0] * 6)
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


def test_a_domain_shift_changes_training_then_validation_and_tests_on_the_new_domain():
    env = shift(3)
    env.reset(seed=0)
    v, loaders = env.variant, env._loaders
    assert isinstance(v, DomainShift)
    assert v.train_loader(2, loaders) is loaders.train and v.val_loader(3, loaders) is loaders.val  # not yet shown
    new = v.train_loader(3, loaders)
    assert new.generator is loaders.train.generator  # its order is the episode's (snapshots restore it)
    assert np.array_equal(new.images.numpy(), 255 - loaders.train.images.numpy())
    assert np.array_equal(v.val_loader(4, loaders).images.numpy(), 255 - loaders.val.images.numpy())
    assert np.array_equal(v.test_loader(loaders).images.numpy(), 255 - loaders.test.images.numpy())
    assert v.old_test_loader(loaders) is loaders.test and v.train_loader(9, loaders) is new
    x = loaders.test.images[:8]
    for kind, f in SHIFTS.items():  # every shift is a real change of the images, same shape and type
        y = f(x)
        assert y.shape == x.shape and y.dtype == x.dtype and not torch.equal(y, x), kind
        assert torch.equal(y, f(x)), kind  # the same shift every time (noise too)


def test_a_domain_shift_reports_accuracy_on_the_old_domain_and_other_episodes_do_not():
    steps = [0] * SMALL["max_epochs"]
    env = shift(2)
    env.reset(seed=1)
    for a in steps:
        *_, info = env.step(a)
    o = info["final"]
    loaders = env._loaders  # two test sets: the new domain's and the old one's
    assert o.test_accuracy == env._evaluate(env.variant.test_loader(loaders), count=False).accuracy
    assert o.old_test_accuracy == env._evaluate(loaders.test, count=False).accuracy
    assert "old_test_accuracy" in o.to_dict()
    plain = EsperEnv("fast", **SMALL)
    plain.reset(seed=1)
    for a in steps:
        *_, info = plain.step(a)
    assert info["final"].old_test_accuracy is None and "old_test_accuracy" not in info["final"].to_dict()


def test_few_classes_hold_only_the_first_classes_in_every_split():
    env = EsperEnv("fast", **SMALL, event="few_classes", first_classes=3)
    env.reset(seed=0)
    v, loaders = env.variant, env._loaders
    assert isinstance(v, FewClasses)
    for loader in (v.train_loader(0, loaders), v.val_loader(0, loaders), v.test_loader(loaders)):
        assert set(loader.labels.tolist()) == {0, 1, 2}
    assert v.train_loader(5, loaders) is v.train_loader(0, loaders)  # built once
    assert v.train_loader(0, loaders).generator is loaders.train.generator


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


EVENT_KW = {"new_classes": dict(event_epoch=3, first_classes=5, replay=0.5), "faulty_seeds": dict(fault_p=0.5),
            "domain_shift": dict(event_epoch=3, shift_kind="noise"), "few_classes": dict(first_classes=4)}


@pytest.mark.parametrize("event", list(EVENT_KW))
def test_snapshots_restore_a_mid_event_episode_exactly(event):
    kw = EVENT_KW[event]
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
    for env_id in ("Esper-Stream-v0", "Esper-Faulty-v0", "Esper-Shift-v0", "Esper-Capacity-v0"):
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
    with pytest.raises(ConfigError, match="needs a shift"):
        make_config("fast", event="domain_shift", event_epoch=3)
    with pytest.raises(ConfigError, match="shift_kind"):
        make_config("fast", event="domain_shift", shift_kind="fog")
    with pytest.raises(ConfigError, match="held-out shift"):
        dataclasses.replace(shift_family(), heldout_shift_kinds=("rotate",)).check()
    faulty_family().check()
    shift_family().check()
    capacity_family().check()
    assert {"Esper-Stream-v0", "Esper-Faulty-v0", "Esper-Shift-v0", "Esper-Capacity-v0"} <= set(esper_env.ENV_IDS)


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


def test_the_reveal_oracle_is_told_the_event_and_culls_a_failed_seed_once_it_shows():
    from agents.base import run_episode
    from lab.oracles import FaultyRevealFast

    oracle = FaultyRevealFast()
    with pytest.raises(RuntimeError, match="bind"):  # no privilege, no play
        run_episode(EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=1.0), oracle, seed=1)
    env = EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=1.0)
    oracle.bind(env)
    commands = [s.command for s in run_episode(env, oracle, seed=1).steps]
    first = commands.index(next(c for c in commands if c.startswith("GERMINATE")))
    assert commands[first + 1] == "WAIT" and commands[first + 2].startswith("CULL")  # shown at +1, +1 delay
    env = EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=0.0)
    oracle.bind(env)
    assert not any(c.startswith("CULL") for c in (s.command for s in run_episode(env, oracle, seed=1).steps))


def test_the_capacity_and_after_event_oracles_act_only_after_the_event_shows():
    from agents.base import run_episode
    from lab.oracles import AfterEventReveal, CapacityReveal

    picks = {3: "no-growth", 10: "late-two"}
    for classes, wanted in ((3, []), (10, [2, 5])):
        env = EsperEnv("fast", **dict(SMALL, max_epochs=16), event="few_classes", first_classes=classes)
        oracle = CapacityReveal(picks)
        oracle.bind(env)
        steps = run_episode(env, oracle, seed=2).steps
        assert [s.epoch for s in steps if s.command.startswith("GERMINATE")] == wanted
    env = EsperEnv("fast", **dict(SMALL, max_epochs=16), event="domain_shift", event_epoch=6, shift_kind="rotate")
    oracle = AfterEventReveal()
    oracle.bind(env)
    steps = run_episode(env, oracle, seed=2).steps
    assert [s.epoch for s in steps if s.command.startswith("GERMINATE")] == [0, 8]  # one early, one at tau + 2


def test_the_reactive_heuristic_told_the_failures_culls_them_at_their_first_report_and_else_is_the_heuristic():
    from agents import ReactiveTamiyo
    from agents.base import run_episode
    from lab.oracles import ReactiveReveal

    oracle = ReactiveReveal()
    with pytest.raises(RuntimeError, match="bind"):
        run_episode(EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=1.0), oracle, seed=1)
    env = EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=1.0)
    oracle.bind(env)
    steps = run_episode(env, oracle, seed=1).steps
    first = next(i for i, s in enumerate(steps) if s.command.startswith("GERMINATE"))
    assert steps[first + 1].command.startswith("CULL") and "known to the oracle" in steps[first + 1].reason
    env = EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=0.0)
    oracle.bind(env)
    told = [s.command for s in run_episode(env, oracle, seed=1).steps]
    plain = [s.command for s in run_episode(EsperEnv("fast", **SMALL, event="faulty_seeds", fault_p=0.0),
                                           ReactiveTamiyo(), seed=1).steps]
    assert told == plain  # nothing fails: it is the reactive heuristic


def test_the_reactive_potential_rule_culls_a_training_seed_that_would_cost_points_and_is_off_by_default():
    from agents import ReactiveTamiyo
    from agents.reactive import ReactiveConfig
    from esper_env import leyline as ly

    def report(potential: float) -> ly.TrainingReport:
        training = ly.SlotReport(2, ly.SeedStage.TRAINING, "conv_residual", epochs_in_stage=0, potential=potential,
                                 isolated_loss=1.0)
        return ly.TrainingReport(
            epoch=4, max_epochs=16, train_loss=1.0, train_accuracy=0.6, val_loss=1.2, val_accuracy=0.5,
            delta_train_accuracy=0.0, delta_val_accuracy=0.0, best_val_accuracy=0.5, plateau_epochs=0,
            val_accuracy_history=(0.5,) * 5, val_loss_history=(1.2,) * 5, host_params=1000, seed_params=10,
            fossilized_params=0, lr=0.01, base_lr=0.05, slots=(ly.SlotReport(1, ly.SeedStage.DORMANT), training),
            blueprints=("conv_residual",))

    probe = ReactiveTamiyo(ReactiveConfig(potential=0.03))
    command, reason = probe.decide(report(-0.05))
    assert command == Command.cull(2) and "5.0 points" in reason
    assert probe.decide(report(-0.02))[0] != Command.cull(2)  # within the threshold
    assert ReactiveTamiyo().decide(report(-0.05))[0] != Command.cull(2)  # off by default

