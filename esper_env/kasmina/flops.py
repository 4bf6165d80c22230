"""FLOP counting for a :class:`~esper_env.kasmina.MorphogeneticModel`: per part, per image.

FLOPs are 2 x the multiply-adds of conv and linear layers, measured once per architecture by forward hooks
on a one-image pass (:func:`measure`); everything else here is arithmetic on that table.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..leyline import SeedStage


@dataclass(frozen=True)
class FlopTable:
    """Forward FLOPs per image (2 x multiply-adds of conv and linear layers) of each part of the model."""

    blocks: tuple[int, ...]
    head: int
    seeds: dict[int, int]
    """slot index -> its seed's forward FLOPs (seeds present now)."""


@torch.no_grad()
def measure(model) -> FlopTable:
    """The table of ``model`` as it is now (every present seed counted, as if at alpha 1)."""
    flops: dict[nn.Module, int] = {}

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            macs = out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            macs = mod.in_features * mod.out_features * (out.numel() // mod.out_features)
        flops[mod] = flops.get(mod, 0) + 2 * macs

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        ref = next(model.host.parameters())
        size = model.settings.image_size
        x = torch.zeros(1, model.host.blocks[0][0].in_channels, size, size, device=ref.device)
        model(x, {s.index: 1.0 for s in model.slots if s.seed is not None})
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    part = lambda module: sum(flops.get(m, 0) for m in module.modules())  # noqa: E731
    return FlopTable(tuple(part(b) for b in model.host.blocks), part(model.host.head),
                     {s.index: part(s.seed) for s in model.slots if s.seed is not None})


def inference(model, alpha: dict[int, float] | None = None) -> int:
    """FLOPs of one image at the current alphas (or ``alpha`` overrides): host, plus every seed above alpha 0."""
    t, alpha = model.flop_table(), alpha or {}
    return sum(t.blocks) + t.head + sum(f for k, f in t.seeds.items() if alpha.get(k, model.slots[k].alpha) > 0)


def variants(model, overrides: list[dict[int, float]]) -> int:
    """FLOPs of one image through ``model.forward_variants(x, overrides)`` (the shared prefix counted once)."""
    t = model.flop_table()
    firsts = [model.first_change(v) for v in overrides]

    def seeds(v: dict[int, float], blocks) -> int:
        return sum(f for k, f in t.seeds.items()
                   if model.slot_blocks[k] in blocks and v.get(k, model.slots[k].alpha) > 0)
    n = len(t.blocks)
    if None in firsts:
        total = inference(model)
    else:
        deepest = max(firsts)
        total = sum(t.blocks[:deepest + 1]) + seeds({}, range(deepest + 1))
    for v, b in zip(overrides, firsts):
        if b is not None:
            total += sum(t.blocks[b + 1:]) + t.head + seeds(v, range(b, n))
    return total


def training(model) -> int:
    """Training FLOPs of one image in the epoch about to run (backward counted as twice the forward).

    Main path: host and the seeds on it (BLENDING, FOSSILIZED), forward + backward = 3x forward. Each
    isolated seed's shadow pass: the seed, 3x its forward, plus the frozen downstream host, 2x its forward
    (forward + gradients to the inputs only)."""
    t = model.flop_table()
    on_path = {s.index for s in model.slots if s.stage in (SeedStage.BLENDING, SeedStage.FOSSILIZED)}
    total = 3 * (sum(t.blocks) + t.head + sum(t.seeds[k] for k in on_path))
    for slot in model.slots:
        if slot.isolated:
            b = model.slot_blocks[slot.index]
            downstream = sum(t.blocks[b + 1:]) + t.head + sum(t.seeds[k] for k in on_path if model.slot_blocks[k] > b)
            total += 3 * t.seeds[slot.index] + 2 * downstream
    return total


def bare_host_training(model) -> int:
    """Training FLOPs of one image through the bare host (no seeds): the compute reference of a budget."""
    t = model.flop_table()
    return 3 * (sum(t.blocks) + t.head)
