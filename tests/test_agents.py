import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from agents import (
    AGENTS,
    FixedSchedule,
    HeuristicTamiyo,
    NoGrowth,
    PolicyAgent,
    RandomLegal,
    TamiyoConfig,
    make_agent,
    run_episode,
    save_policy,
)
from esper_env import leyline as ly
from esper_env.leyline import Command, Op, SeedStage
from lab.cli import main as cli_main

BPS = ("conv_residual", "depthwise", "attention", "lowrank", "norm")


def slot(i, stage=SeedStage.DORMANT, **kw):
    return ly.SlotReport(index=i, stage=stage, **kw)


def report(epoch=5, delta=0.0, slots=None, max_epochs=25, val=0.5, plateau=0, germinated=0, since_cull=None):
    slots = slots or (slot(0), slot(1), slot(2))
    return ly.TrainingReport(
        epoch=epoch, max_epochs=max_epochs, train_loss=1.0, train_accuracy=0.6, val_loss=1.2,
        val_accuracy=val, delta_train_accuracy=0.0, delta_val_accuracy=delta, best_val_accuracy=val,
        plateau_epochs=plateau, val_accuracy_history=(val,) * 5, val_loss_history=(1.2,) * 5, host_params=1000,
        seed_params=0, fossilized_params=0, lr=0.01, base_lr=0.05, slots=tuple(slots), blueprints=BPS,
        seeds_germinated=germinated, epochs_since_cull=tuple((since_cull or {}).get(b, -1) for b in BPS))


# ---- heuristic rules on hand-built reports ---------------------------------------------------------

def test_no_germination_during_warmup():
    t = HeuristicTamiyo(TamiyoConfig(warmup_epochs=5, plateau_patience=1))
    cmd, reason = t.decide(report(epoch=4, plateau=3))
    assert cmd == Command.wait() and "warm-up" in reason


def test_germinates_after_plateau_patience():
    t = HeuristicTamiyo(TamiyoConfig(warmup_epochs=2, plateau_patience=2))
    cmd, reason = t.decide(report(epoch=6, plateau=1))
    assert cmd.op == Op.WAIT and "plateau 1/2" in reason
    cmd, reason = t.decide(report(epoch=7, plateau=2))
    assert cmd == Command.germinate(1, "conv_residual") and "plateau" in reason


def test_plateau_counter_averages_over_the_window():
    count = 0
    vals = [0.3, 0.36, 0.44, 0.47, 0.59, 0.50, 0.64]  # a dip at epoch 5, as seen on real runs
    hist = [vals[0]] * ly.HISTORY_LEN
    for e, v in enumerate(vals[1:], start=1):
        hist = hist[1:] + [v]
        count = ly.plateau_epochs(count, hist, 3, 0.015, e)
        assert count == 0, e  # a single noisy dip is not a plateau
    for e, v in enumerate([0.65] * 5, start=len(vals)):  # then it flattens: 0, 0 (dip in window), 1, 2, 3
        hist = hist[1:] + [v]
        count = ly.plateau_epochs(count, hist, 3, 0.015, e)
    assert count == 3
    assert ly.plateau_epochs(0, [0.1, 0.1, 0.1, 0.1, 0.2], 3, 0.015, 1) == 0  # window shortened early: +10 pts


def test_respects_slot_order_budget_and_max_seeds():
    cfg = TamiyoConfig(warmup_epochs=0, slot_order=(2, 0, 1), max_seeds=1, min_budget_left=4)
    t = HeuristicTamiyo(cfg)
    assert t.decide(report(epoch=1, plateau=1))[0] == Command.germinate(2, "conv_residual")
    assert "seed budget" in t.decide(report(epoch=2, plateau=1, germinated=1))[1]
    cmd, reason = t.decide(report(epoch=22, plateau=3))
    assert cmd.op == Op.WAIT and "too late" in reason


def test_advances_on_potential_after_min_epochs():
    t = HeuristicTamiyo(TamiyoConfig(min_training_epochs=2, advance_potential=0.01))
    train = lambda n, pot: (slot(0), slot(1, SeedStage.TRAINING, blueprint="norm", epochs_in_stage=n,  # noqa
                                         potential=pot), slot(2))
    assert t.decide(report(slots=train(1, 0.05)))[0] == Command.wait()  # too early
    assert t.decide(report(slots=train(2, 0.005)))[0] == Command.wait()  # too little
    cmd, reason = t.decide(report(slots=train(2, 0.02)))
    assert cmd == Command.advance(1) and "potential +2.0" in reason


def test_culls_training_seed_on_timeout():
    t = HeuristicTamiyo(TamiyoConfig(training_timeout=4, advance_potential=0.01))
    s = slot(1, SeedStage.TRAINING, blueprint="norm", epochs_in_stage=4, potential=-0.01)
    cmd, reason = t.decide(report(slots=(slot(0), s, slot(2))))
    assert cmd == Command.cull(1) and "timeout" in reason


def test_culls_blending_regression_and_fossilizes_clean_blend():
    t = HeuristicTamiyo(TamiyoConfig(regression_tolerance=0.02))
    bad = slot(0, SeedStage.BLENDING, blueprint="lowrank", alpha=0.5, contribution=-0.03)
    cmd, reason = t.decide(report(slots=(bad, slot(1), slot(2))))
    assert cmd == Command.cull(0) and "regression" in reason
    ok = slot(0, SeedStage.BLENDING, blueprint="lowrank", alpha=1.0, blend_complete=True, contribution=-0.01)
    cmd, reason = t.decide(report(slots=(ok, slot(1), slot(2))))
    assert cmd == Command.advance(0) and "fossilize" in reason
    mid = dataclasses.replace(ok, alpha=0.5, blend_complete=False)
    assert t.decide(report(slots=(mid, slot(1), slot(2))))[0] == Command.wait()


def test_recently_culled_blueprint_is_not_rechosen():
    t = HeuristicTamiyo(TamiyoConfig(warmup_epochs=0, cull_memory_epochs=5))
    s = slot(1, SeedStage.TRAINING, blueprint="conv_residual", epochs_in_stage=9, potential=-0.1)
    assert t.decide(report(epoch=3, plateau=3, slots=(slot(0), s, slot(2))))[0] == Command.cull(1)
    recent = report(epoch=4, plateau=3, germinated=1, since_cull={"conv_residual": 1})
    assert t.decide(recent)[0] == Command.germinate(1, "depthwise")
    assert t.choose_blueprint(report(epoch=9, since_cull={"conv_residual": 6})) == "conv_residual"  # expired


def test_one_active_seed_at_a_time():
    t = HeuristicTamiyo(TamiyoConfig(warmup_epochs=0))
    s = slot(1, SeedStage.TRAINING, blueprint="norm", epochs_in_stage=0)
    cmd, reason = t.decide(report(plateau=3, slots=(slot(0), s, slot(2))))
    assert cmd == Command.wait() and "training" in reason


def test_illegal_rule_output_becomes_wait():
    class Broken(NoGrowth):
        def decide(self, report):
            return Command.advance(0), "bug"
    r = report()
    codec = ly.LAYOUT_CODEC
    info = {"report": r, "action_mask": ly.legal_commands(codec, r.slot_states)}
    agent = Broken()
    assert agent.act(np.zeros(3), info) == 0 and "not legal" in agent.last_reason


def test_fixed_schedule_and_random_legal():
    f = FixedSchedule()
    assert f.decide(report(epoch=5))[0] == Command.germinate(1, "conv_residual")
    s = slot(1, SeedStage.TRAINING, blueprint="conv_residual", epochs_in_stage=3)
    assert f.decide(report(epoch=10, slots=(slot(0), s, slot(2))))[0] == Command.wait()
    s = slot(1, SeedStage.TRAINING, blueprint="conv_residual", epochs_in_stage=4)
    assert f.decide(report(epoch=10, slots=(slot(0), s, slot(2))))[0] == Command.advance(1)
    r = report()
    codec = ly.LAYOUT_CODEC
    mask = ly.legal_commands(codec, r.slot_states)
    info = {"report": r, "action_mask": mask}
    a, b = RandomLegal(), RandomLegal()
    a.reset(3), b.reset(3)
    picks = [a.act(None, info) for _ in range(50)]
    assert picks == [b.act(None, info) for _ in range(50)]
    assert all(mask[p] for p in picks) and len(set(picks)) > 3


def test_make_agent():
    assert set(AGENTS) == {"heuristic", "reactive", "no-growth", "fixed", "random"}
    assert isinstance(make_agent("heuristic"), HeuristicTamiyo)
    with pytest.raises(ValueError, match="unknown controller"):
        make_agent("genius")
    with pytest.raises(FileNotFoundError, match="not found .relative to"):
        make_agent("policy:/nonexistent/model.zip")


# ---- end to end on the tiny preset --------------------------------------------------------------

E2E = dict(train_size=256, val_size=128, test_size=128, max_epochs=12, plateau_window=1, plateau_threshold=1.0)


def test_heuristic_grows_blends_and_fossilizes():
    env = gym.make("Esper-Tiny-v0", **E2E)
    cfg = TamiyoConfig(warmup_epochs=1, advance_potential=-1.0, regression_tolerance=1.0, max_seeds=1,
                       min_budget_left=5)
    rec = run_episode(env, HeuristicTamiyo(cfg), seed=0)
    events = [e.label for e in rec.history]
    assert events[:4] == ["germinate", "training", "blending", "fossilized"], events
    assert rec.outcome.seeds_fossilized == 1 and rec.outcome.added_params > 0
    assert rec.outcome.architecture == ((1, "conv_residual"),)
    assert any("fossilize" in s.reason for s in rec.steps)
    assert len(rec.steps) == 12 and rec.episode_return == pytest.approx(sum(s.reward for s in rec.steps))


def test_heuristic_culls_a_seed_that_never_shows_potential():
    env = gym.make("Esper-Tiny-v0", **E2E)
    cfg = TamiyoConfig(warmup_epochs=1, advance_potential=1.0, training_timeout=3, max_seeds=1)
    rec = run_episode(env, HeuristicTamiyo(cfg), seed=0)
    assert rec.outcome.seeds_culled == 1 and rec.outcome.seeds_fossilized == 0
    assert any("timeout" in s.reason for s in rec.steps)
    assert [e.label for e in rec.history][:4] == ["germinate", "training", "cull", "dormant"]


def test_policy_agent_wraps_a_saved_maskable_ppo(tmp_path):
    from sb3_contrib import MaskablePPO
    env = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, max_epochs=3)
    model = MaskablePPO("MlpPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    save_policy(model, tmp_path / "tamiyo.zip", env.unwrapped.schema)
    agent = make_agent(f"policy:{tmp_path / 'tamiyo.zip'}", schema=env.unwrapped.schema)
    assert isinstance(agent, PolicyAgent)
    rec = run_episode(env, agent, seed=1)
    assert len(rec.steps) == 3 and not any(s.illegal for s in rec.steps)


def test_episode_summary_callback_logs_to_tensorboard_formats(tmp_path):
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.logger import configure

    from agents.callbacks import EpisodeSummaryCallback
    env = gym.make("Esper-Tiny-v0", train_size=64, val_size=32, test_size=32, max_epochs=2)
    model = MaskablePPO("MlpPolicy", env, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu")
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(total_timesteps=16, callback=EpisodeSummaryCallback())
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"esper/final_test_accuracy", "esper/seeds_germinated", "esper/added_params"} <= set(header)


def test_cli_run_prints_log_and_saves_plot(tmp_path, capsys):
    png = tmp_path / "curve.png"
    code = cli_main(["run", "--agent", "fixed", "--env", "Esper-Tiny-v0", "--seed", "1", "--plot", str(png),
                     "--set", "max_epochs=8", "--set", "train_size=128", "--set", "val_size=64",
                     "--set", "test_size=64"])
    out = capsys.readouterr().out
    assert code == 0 and png.stat().st_size > 1000
    assert "epoch   8" in out and "final: test" in out and "GERMINATE(slot=1, conv_residual)" in out


def test_cli_errors_are_one_line(capsys):
    assert cli_main(["run", "--agent", "nope", "--env", "Esper-Tiny-v0"]) == 2
    assert "unknown controller" in capsys.readouterr().err


def test_cli_version_and_help(capsys):
    import esper_env
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--version"])
    assert exit_.value.code == 0 and esper_env.__version__ in capsys.readouterr().out
    assert cli_main([]) == 0 and "run" in capsys.readouterr().out
