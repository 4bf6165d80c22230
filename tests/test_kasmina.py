import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esper_env.kasmina import BLUEPRINTS, MorphogeneticModel, blend_alpha, flops, host_widths
from esper_env.leyline import Command, IllegalCommandError, IllegalTransitionError, SeedStage

TINY = host_widths("tiny")


def model(**kw):
    kw.setdefault("init_seed", 0)
    return MorphogeneticModel(TINY, **kw)


def batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def to_training(m, slot, bp):
    m.apply(Command.germinate(slot, bp), init_seed=5)
    m.start_epoch()
    assert m.slots[slot].stage == SeedStage.GERMINATED  # the germination epoch: observed as GERMINATED
    m.end_epoch(), m.start_epoch()
    assert m.slots[slot].stage == SeedStage.TRAINING


def test_default_host_size():
    m = MorphogeneticModel(host_widths("default"))
    assert 90_000 < m.host_params < 100_000
    assert host_widths("default", 4.0) == (128, 256, 512)
    with pytest.raises(ValueError, match="preset"):
        host_widths("huge")


@pytest.mark.parametrize("slot", [0, 1, 2])
@pytest.mark.parametrize("bp", sorted(BLUEPRINTS))
def test_isolation_invariant(bp, slot):
    """A TRAINING seed leaves the host's outputs, gradients and BN statistics exactly unchanged."""
    x, y = batch()
    ref, m = model(), model()
    to_training(m, slot, bp)
    ref.train(), m.train()
    ref_logits, ref_shadows = ref.forward_train(x)
    logits, shadows = m.forward_train(x)
    assert ref_shadows == [] and len(shadows) == 1
    torch.testing.assert_close(logits, ref_logits, rtol=0, atol=0)
    F.cross_entropy(ref_logits, y).backward()
    (F.cross_entropy(logits, y) + F.cross_entropy(shadows[0], y)).backward()
    for (name, p), q in zip(ref.host.named_parameters(), m.host.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=f"host grad {name} changed")
    for (name, b), c in zip(ref.host.named_buffers(), m.host.buffers()):
        torch.testing.assert_close(c, b, msg=f"host buffer {name} changed")
    seed_grads = [p.grad for p in m.slots[slot].seed.parameters()]
    assert all(g is not None for g in seed_grads) and any(g.abs().sum() > 0 for g in seed_grads)


def test_germinated_seed_already_trains_in_isolation():
    x, y = batch()
    ref, m = model(), model()
    m.apply(Command.germinate(1, "conv_residual"), init_seed=5)
    logits, shadows = m.forward_train(x)
    torch.testing.assert_close(logits, ref.forward_train(x)[0], rtol=0, atol=0)
    assert len(shadows) == 1 and m.slots[1].isolated


@pytest.mark.parametrize("bp", sorted(BLUEPRINTS))
def test_identity_at_alpha_zero(bp):
    x, _ = batch()
    ref, m = model(), model()
    m.apply(Command.germinate(1, bp), init_seed=3)
    ref.eval(), m.eval()
    torch.testing.assert_close(m(x, {1: 0.0}), ref(x), rtol=0, atol=0)
    assert not torch.allclose(m(x, {1: 1.0}), ref(x))  # the seed does something at alpha 1


def test_seed_objective_falls_in_isolation():
    torch.manual_seed(0)
    x, y = batch(64)
    m = model()
    to_training(m, 2, "conv_residual")
    host_before = copy.deepcopy(dict(m.host.named_parameters()))
    losses = []
    opt = torch.optim.SGD(m.slots[2].seed.parameters(), lr=0.05, momentum=0.9)
    m.train()
    for _ in range(40):
        _, shadows = m.forward_train(x)
        loss = F.cross_entropy(shadows[0], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    for k, v in m.host.named_parameters():  # (BN running stats move with the main path, as without a seed)
        assert torch.equal(v, host_before[k]), f"{k} changed during isolated seed training"


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_alpha_schedules(schedule):
    values = [blend_alpha(p / 10, schedule) for p in range(11)]
    assert values[0] == 0 and values[-1] == pytest.approx(1)
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert blend_alpha(0.5, schedule) == pytest.approx(0.5)
    assert blend_alpha(1.7, schedule) == 1.0
    if schedule == "cosine":
        assert values[1] < 0.1  # smooth start
    with pytest.raises(ValueError):
        blend_alpha(0.5, "step")


def test_blending_ramps_per_batch_then_fossilizes():
    m = model(blend_epochs=2)
    to_training(m, 0, "lowrank")
    m.apply(Command.advance(0))
    slot = m.slots[0]
    assert slot.stage == SeedStage.BLENDING and slot.alpha == 0.0
    with pytest.raises(IllegalCommandError):
        m.apply(Command.advance(0))  # not complete yet
    alphas = []
    for _ in range(8):  # 2 epochs of 4 batches
        m.step_blend(0.25)
        alphas.append(slot.alpha)
    assert alphas == pytest.approx([i / 8 for i in range(1, 9)])
    m.apply(Command.advance(0))
    assert slot.stage == SeedStage.FOSSILIZED and slot.alpha == 1.0
    host_group = next(g for g in m.optimizer.param_groups if g["name"] == "host")
    assert all(any(p is q for q in host_group["params"]) for p in slot.seed.parameters())
    assert [g["name"] for g in m.optimizer.param_groups] == ["host"]


def test_parameter_counts():
    m = model()
    c = TINY[1]
    expected = {"conv_residual": 2 * 9 * c * c + 4 * c, "norm": 2 * c, "lowrank": 2 * c * (c // 4) + c,
                "depthwise": 9 * c + c * c + 4 * c, "attention": c * (c // 4) + c // 4 + (c // 4) * c + c}
    for bp, n in expected.items():
        assert BLUEPRINTS[bp].param_count(c) == n
    m.apply(Command.germinate(1, "conv_residual"), init_seed=1)
    assert m.seed_params() == expected["conv_residual"]
    assert m.total_params == m.host_params + expected["conv_residual"]


def test_culling_frees_parameters_and_optimizer_state():
    m = model(embargo_epochs=1)
    to_training(m, 1, "depthwise")
    x, y = batch()
    logits, shadows = m.forward_train(x)
    (F.cross_entropy(logits, y) + F.cross_entropy(shadows[0], y)).backward()
    m.optimizer.step()
    seed_params = list(m.slots[1].seed.parameters())
    host_state = {id(p): m.optimizer.state[p]["momentum_buffer"].clone() for p in m.host.parameters()}
    assert all(p in m.optimizer.state for p in seed_params)
    m.apply(Command.cull(1))
    assert m.slots[1].seed is None and m.slots[1].stage == SeedStage.CULLED
    assert m.total_params == m.host_params
    assert not any(p in m.optimizer.state for p in seed_params)
    assert [g["name"] for g in m.optimizer.param_groups] == ["host"]
    for p in m.host.parameters():  # the host's momentum survives the cull
        assert torch.equal(m.optimizer.state[p]["momentum_buffer"], host_state[id(p)])
    m.end_epoch()  # the epoch of the cull: the slot is observed CULLED, one decision under embargo
    assert m.slots[1].stage == SeedStage.CULLED and m.slots[1].embargo_left == 1
    m.start_epoch(), m.end_epoch()
    assert m.slots[1].stage == SeedStage.DORMANT and m.slots[1].embargo_left == 0  # embargo has passed


def test_no_embargo_means_dormant_right_after_the_cull_epoch():
    m = model(embargo_epochs=0)
    to_training(m, 0, "norm")
    m.apply(Command.cull(0))
    m.start_epoch(), m.end_epoch()
    assert m.slots[0].stage == SeedStage.DORMANT


def test_training_flops_count_shadow_passes():
    m = model()
    t = m.flop_table()
    host = sum(t.blocks) + t.head
    assert flops.training(m) == 3 * host and m.flops_per_image() == host
    to_training(m, 0, "conv_residual")  # slot 0 sits after block 0
    seed = m.flop_table().seeds[0]
    assert seed > 0
    downstream = t.blocks[1] + t.blocks[2] + t.head
    assert flops.training(m) == 3 * host + 3 * seed + 2 * downstream
    assert m.flops_per_image() == host and m.flops_per_image({0: 1.0}) == host + seed
    m.apply(Command.advance(0))  # BLENDING: on the main path, trained with the host
    assert flops.training(m) == 3 * (host + seed)


def test_built_fossilized_matches_grown_architecture():
    m = model(fossilized={0: "attention", 2: "conv_residual"})
    assert [s.stage for s in m.slots] == [SeedStage.FOSSILIZED, SeedStage.DORMANT, SeedStage.FOSSILIZED]
    assert m.fossilized_params == BLUEPRINTS["attention"].param_count(TINY[0]) + \
        BLUEPRINTS["conv_residual"].param_count(TINY[2])
    assert m.flops_per_image() > model().flops_per_image()
    assert len(m.optimizer.param_groups) == 1
    with pytest.raises(ValueError, match="does not exist"):
        model(fossilized={7: "norm"})


def test_flops_of_default_host():
    m = MorphogeneticModel(host_widths("default"))
    # conv MACs: 32x32x3x9x32 + 16x16x32x9x64 + 8x8x64x9x128 ; linear 128x10
    macs = 32 * 32 * 3 * 9 * 32 + 16 * 16 * 32 * 9 * 64 + 8 * 8 * 64 * 9 * 128 + 1280
    assert m.flops_per_image() == 2 * macs


def test_illegal_commands_raise_clearly():
    m = model()
    with pytest.raises(IllegalCommandError, match="not legal"):
        m.apply(Command.advance(0))
    with pytest.raises(IllegalCommandError):
        m.apply(Command.germinate(0, "nonexistent"))
    with pytest.raises(IllegalTransitionError):
        m.slots[0].cull()


ops = st.lists(st.tuples(st.sampled_from(["germinate", "advance", "cull", "wait", "epoch", "batch"]),
                         st.integers(0, 2), st.sampled_from(sorted(BLUEPRINTS))), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_command_sequences_keep_a_legal_state(seq):
    m = model(blend_epochs=1, embargo_epochs=1)
    for op, slot, bp in seq:
        if op == "epoch":
            m.end_epoch()
            m.start_epoch()
            continue
        if op == "batch":
            m.step_blend(0.5)
            continue
        cmd = {"germinate": Command.germinate(slot, bp), "advance": Command.advance(slot),
               "cull": Command.cull(slot), "wait": Command.wait()}[op]
        legal = m.is_legal(cmd)
        if legal:
            m.apply(cmd)
        else:
            with pytest.raises(IllegalCommandError):
                m.apply(cmd)
        # Invariants: a seed exists exactly in the stages that hold one; optimizer groups match live seeds.
        for s in m.slots:
            has_seed = s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING, SeedStage.BLENDING,
                                   SeedStage.FOSSILIZED)
            assert (s.seed is not None) == has_seed
            assert 0.0 <= s.alpha <= 1.0
        live = {f"seed{s.index}" for s in m.slots if s.stage in (SeedStage.GERMINATED, SeedStage.TRAINING,
                                                                 SeedStage.BLENDING)}
        assert {g["name"] for g in m.optimizer.param_groups} == {"host"} | live
        assert m.total_params == m.host_params + m.seed_params() + m.fossilized_params
