"""The fast paths stay correct: shared counterfactual passes, bf16 / channels_last, the thread rule."""

import multiprocessing

import pytest
import torch

from esper_env.data import DeviceLoader
from esper_env.env import train_without_reports
from esper_env.kasmina import MorphogeneticModel, flops, host_widths
from esper_env.leyline import Command, Op, SeedStage
from esper_env.training import evaluate, evaluate_variants, set_threads, train_epoch


def _grown_model() -> tuple[MorphogeneticModel, DeviceLoader]:
    """A tiny model with a BLENDING seed (slot 0, alpha strictly between 0 and 1), a TRAINING seed (slot 1)
    and a FOSSILIZED one (slot 2), after some training so that every branch matters."""
    torch.manual_seed(0)
    x = torch.randint(0, 256, (96, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (96,))
    train = DeviceLoader(x, y, 32, train=True, generator=torch.Generator().manual_seed(1))
    m = MorphogeneticModel(host_widths("tiny"), blend_epochs=3, embargo_epochs=1, fossilized={2: "norm"})
    m.apply(Command(Op.GERMINATE, 0, "depthwise"), init_seed=1)
    m.apply(Command(Op.GERMINATE, 1, "attention"), init_seed=2)
    for epoch in range(3):
        if epoch == 2:
            m.apply(Command(Op.ADVANCE, 0))  # slot 0: TRAINING -> BLENDING
        m.start_epoch()
        train_epoch(m, train)
        m.end_epoch()
    assert [s.stage for s in m.slots] == [SeedStage.BLENDING, SeedStage.TRAINING, SeedStage.FOSSILIZED]
    assert 0 < m.slots[0].alpha < 1
    return m, DeviceLoader(x, y, 40, train=False)  # a ragged last batch too


@pytest.mark.parametrize("batch_stats", [True, False])
def test_shared_counterfactual_passes_equal_separate_ones_exactly(batch_stats):
    m, loader = _grown_model()
    variants = [{}, {0: 0.0}, {0: 1.0}, {1: 1.0}, {2: 0.0}, {1: 0.0}, {0: 0.3, 2: 0.0}]
    shared = evaluate_variants(m, loader, variants=variants, batch_stats=batch_stats)
    separate = [evaluate(m, loader, alpha=v, batch_stats=batch_stats) for v in variants]
    assert shared == separate
    assert len({s.loss for s in shared}) >= 4  # the variants really differ
    assert shared[5] == shared[0]  # slot 1 is TRAINING: alpha 0 is its current alpha


def test_shared_counterfactual_flops_are_the_prefix_saved():
    m, _ = _grown_model()
    variants = [{}, {0: 0.0}, {1: 1.0}, {2: 0.0}]
    separate = sum(m.flops_per_image(v) for v in variants)
    shared = flops.variants(m, variants)
    t = m.flop_table()
    # Each variant reuses the unchanged pass up to the block whose slot it changes: block 0 (slot 0),
    # blocks 0-1 and slot 0's seed (slot 1), blocks 0-2 and slot 0's seed (slot 2).
    b0, b1, b2 = t.blocks
    saved = b0 + (b0 + b1 + t.seeds[0]) + (b0 + b1 + b2 + t.seeds[0])
    assert shared == separate - saved
    assert flops.variants(m, [{}]) == m.flops_per_image()


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_and_bf16_predictions_match_fp32(channels_last):
    m, loader = _grown_model()
    m.eval()
    x = next(iter(loader))[0]
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
    with torch.no_grad():
        reference = m(x.contiguous())
        assert torch.allclose(m(x), reference, atol=1e-4, rtol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = m(x).float()
    assert low.argmax(1).eq(reference.argmax(1)).float().mean() >= 0.9
    assert torch.allclose(low, reference, atol=0.15 * reference.abs().max().item())


def _threads_in_child(queue) -> None:
    queue.put(set_threads(0))


def test_env_uses_one_thread_in_a_worker_process():
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_threads_in_child, args=(queue,))
    p.start()
    p.join(60)
    assert queue.get(timeout=5) == 1
    before = torch.get_num_threads()
    assert set_threads(0) == before  # the main process keeps its own setting


def test_bare_training_hook_trains_the_same_model_without_reports():
    import gymnasium as gym

    import esper_env  # noqa: F401

    small = dict(train_size=64, val_size=32, test_size=32, max_epochs=3, blend_epochs=1)
    env = gym.make("Esper-Tiny-v0", **small)
    u = env.unwrapped
    germinate = u.codec.encode(Command(Op.GERMINATE, 0, u.config.blueprints[0]))
    env.reset(seed=0)
    for a in (germinate, 0, 0):
        env.step(a)
    stepped = {k: v.clone() for k, v in u.model.state_dict().items()}
    env.reset(seed=0)
    report = u.report
    train_without_reports(u, [germinate])
    assert u.report is report  # nothing reported
    assert u.model.slots[0].stage == SeedStage.TRAINING and u.epoch == 3
    bare = u.model.state_dict()
    assert stepped.keys() == bare.keys() and all(torch.equal(stepped[k], bare[k]) for k in bare)  # same training
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(RuntimeError, match="reset"):
        train_without_reports(u, [])
