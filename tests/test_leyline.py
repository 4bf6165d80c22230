import itertools

import numpy as np
import pytest

from esper_env import leyline as ly
from esper_env.leyline import Command, SeedStage

LEGAL = {(SeedStage.DORMANT, SeedStage.GERMINATED), (SeedStage.GERMINATED, SeedStage.TRAINING),
         (SeedStage.TRAINING, SeedStage.BLENDING), (SeedStage.BLENDING, SeedStage.FOSSILIZED),
         (SeedStage.GERMINATED, SeedStage.CULLED), (SeedStage.TRAINING, SeedStage.CULLED),
         (SeedStage.BLENDING, SeedStage.CULLED), (SeedStage.CULLED, SeedStage.DORMANT)}


@pytest.mark.parametrize("a, b", list(itertools.product(SeedStage, SeedStage)))
def test_every_transition(a, b):
    if (a, b) in LEGAL:
        assert ly.check_transition(a, b) == b
    else:
        with pytest.raises(ly.IllegalTransitionError, match=f"{a.name} -> {b.name}"):
            ly.check_transition(a, b)


def test_codec_round_trip_and_layout():
    codec = ly.ActionCodec(3, ("a", "b"))
    assert codec.n == 1 + 6 + 3 + 3
    assert codec.decode(0) == Command.wait()
    assert codec.decode(1) == Command.germinate(0, "a") and codec.decode(4) == Command.germinate(1, "b")
    assert codec.decode(7) == Command.advance(0) and codec.decode(12) == Command.cull(2)
    for i in range(codec.n):
        assert codec.encode(codec.decode(i)) == i
    assert codec.decode(np.int64(3)) == codec.decode(3)
    for bad in (-1, 13, 2.5):
        with pytest.raises(ValueError, match="outside the action space"):
            codec.decode(bad)
    with pytest.raises(ValueError, match="not in this action space"):
        codec.encode(Command.germinate(0, "zzz"))


def test_command_validation():
    with pytest.raises(ValueError):
        Command(ly.Op.WAIT, slot=1)
    with pytest.raises(ValueError):
        Command(ly.Op.ADVANCE, slot=0, blueprint="a")
    assert str(Command.germinate(1, "norm")) == "GERMINATE(slot=1, norm)"


def test_legal_commands_mask():
    codec = ly.ActionCodec(2, ("a",))
    slots = [ly.SlotState(SeedStage.DORMANT), ly.SlotState(SeedStage.BLENDING, blend_complete=False)]
    legal = {str(c) for c, m in zip(codec.commands, ly.legal_commands(codec, slots)) if m}
    assert legal == {"WAIT", "GERMINATE(slot=0, a)", "CULL(slot=1)"}
    slots[1] = ly.SlotState(SeedStage.BLENDING, blend_complete=True)
    assert ly.command_is_legal(Command.advance(1), slots)
    for stage in (SeedStage.FOSSILIZED, SeedStage.CULLED, SeedStage.DORMANT):
        s = [ly.SlotState(stage)] * 2
        assert not ly.command_is_legal(Command.advance(0), s) and not ly.command_is_legal(Command.cull(0), s)
    assert not ly.command_is_legal(Command.cull(5), slots)


def test_disabled_positions_and_blueprints_are_never_legal():
    codec = ly.ActionCodec.layout()
    # positions 1 and 2 enabled (as on Esper-Fast-v0), two blueprints enabled
    slots = {1: ly.SlotState(SeedStage.DORMANT), 2: ly.SlotState(SeedStage.TRAINING)}
    legal = {str(c) for c, m in zip(codec.commands, ly.legal_commands(codec, slots, ("norm", "lowrank"))) if m}
    assert legal == {"WAIT", "GERMINATE(slot=1, norm)", "GERMINATE(slot=1, lowrank)", "ADVANCE(slot=2)",
                     "CULL(slot=2)"}


def report(**kw):
    slot = ly.SlotReport(index=0, stage=SeedStage.TRAINING, blueprint="norm", potential=0.03, seed_params=50)
    base = dict(epoch=3, max_epochs=10, train_loss=1.0, train_accuracy=0.5, val_loss=1.2, val_accuracy=0.45,
                delta_train_accuracy=0.01, delta_val_accuracy=0.02, best_val_accuracy=0.46, plateau_epochs=1,
                val_accuracy_history=(0.3, 0.35, 0.4, 0.43, 0.45), val_loss_history=(2, 1.8, 1.5, 1.3, 1.2),
                host_params=100, seed_params=50, fossilized_params=0, lr=0.01, base_lr=0.05,
                slots=(slot,), blueprints=("norm", "lowrank"))
    base.update(kw)
    return ly.TrainingReport(**base)


def test_vector_is_bounded_named_and_versioned():
    names = ly.observation_fields()
    v = ly.report_to_vector(report())
    assert v.dtype == np.float32 and v.shape == (len(names),) and len(set(names)) == len(names)
    assert ly.OBS_VERSION >= 4
    d = dict(zip(names, v))
    assert d["progress"] == pytest.approx(0.3) and d["slot0_stage_training"] == 1.0
    assert d["slot0_bp_norm"] == 1.0 and d["slot0_potential"] == pytest.approx(0.3) and d["slot0_enabled"] == 1
    # positions and blueprints the report does not have read as absent (documented values)
    assert all(d[f"slot{p}_{e}"] == 0 for p in (1, 2) for e in ly.SLOT_ENTRIES)
    assert [d[f"bp_{b}_enabled"] for b in ly.LAYOUT_BLUEPRINTS] == [0, 0, 1, 0, 1]
    assert all(d[f"bp_{b}_since_cull"] == 1 for b in ly.LAYOUT_BLUEPRINTS)
    # the task context: documented scales
    assert d["task_log_host_params"] == pytest.approx(2 / 7) and d["task_max_epochs"] == pytest.approx(0.1)
    assert d["task_log_lr"] == pytest.approx((np.log10(0.05) + 4) / 4, abs=1e-6)
    wide = dict(zip(names, ly.report_to_vector(report(task=ly.TaskContext(width=4.0, train_images=1000,
                                                                           image_size=16, real_data=True)))))
    assert wide["task_log_width"] == pytest.approx(2 / 3) and wide["task_log_train_images"] == pytest.approx(0.6)
    assert wide["task_image_size"] == 0.5 and wide["task_real_data"] == 1 and d["task_real_data"] == 0
    extreme = ly.report_to_vector(report(train_loss=float("nan"), val_loss=1e9, delta_val_accuracy=-0.9,
                                         seed_params=10**9))
    assert np.isfinite(extreme).all() and extreme.min() >= -1 and extreme.max() <= 1


def test_report_is_frozen():
    r = report()
    with pytest.raises(AttributeError):
        r.epoch = 4
    assert r.budget_left == 7 and ly.LAYOUT_CODEC.n == 1 + 3 * 5 + 3 + 3
