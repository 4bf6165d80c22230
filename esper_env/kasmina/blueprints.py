"""Blueprints: the seed module types, in a registry.

A blueprint builds a *residual branch* ``f(h)`` with the same shape as its input; a slot outputs
``h + alpha * f(h)``, so a seed at alpha 0 changes nothing (identity-preserving by construction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class ConvResidual(nn.Module):
    """Two 3x3 conv-BN layers: ``f(h) = BN(conv(ReLU(BN(conv(h)))))`` -- the big one (~2 * 9 C^2)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(h)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation (reduction 4) as a branch: ``f(h) = h * gate(h) - h``, so at alpha 1 the
    slot outputs exactly the classic SE ``h * gate(h)``."""

    def __init__(self, c: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, c // reduction)
        self.gate = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, c), nn.Sigmoid())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        g = self.gate(h.mean(dim=(2, 3)))[:, :, None, None]
        return h * g - h


class Normalization(nn.Module):
    """Re-normalisation seed: ``f(h) = BN(h) - h`` (2 C parameters); at alpha 1 the slot outputs BN(h)."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(c)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.norm(h) - h


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN (~9 C + C^2)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(h)


class LowRank(nn.Module):
    """1x1 bottleneck ``C -> C/4 -> C`` with a ReLU between (~C^2 / 2)."""

    def __init__(self, c: int, rank_divisor: int = 4):
        super().__init__()
        r = max(1, c // rank_divisor)
        self.body = nn.Sequential(nn.Conv2d(c, r, 1, bias=False), nn.ReLU(inplace=True), nn.Conv2d(r, c, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(h)


@dataclass(frozen=True)
class Blueprint:
    name: str
    build: Callable[[int], nn.Module]
    """Factory: channels -> residual-branch module."""
    description: str

    def param_count(self, channels: int) -> int:
        return sum(p.numel() for p in self.build(channels).parameters())


BLUEPRINTS: dict[str, Blueprint] = {b.name: b for b in (
    Blueprint("conv_residual", ConvResidual, "two 3x3 conv-BN layers (large)"),
    Blueprint("attention", ChannelAttention, "squeeze-and-excitation channel attention"),
    Blueprint("norm", Normalization, "per-channel re-normalisation (tiny)"),
    Blueprint("depthwise", DepthwiseSeparable, "depthwise-separable conv block"),
    Blueprint("lowrank", LowRank, "1x1 low-rank bottleneck"),
)}
DEFAULT_BLUEPRINTS: tuple[str, ...] = tuple(BLUEPRINTS)


def get_blueprint(name: str) -> Blueprint:
    try:
        return BLUEPRINTS[name]
    except KeyError:
        raise ValueError(f"unknown blueprint {name!r}; choose from {sorted(BLUEPRINTS)}") from None
