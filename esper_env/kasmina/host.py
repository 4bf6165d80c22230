"""The host: a small CNN of conv blocks, with seed slots after blocks (see :mod:`.model`)."""

from __future__ import annotations

import torch
from torch import nn

PRESETS: dict[str, tuple[int, ...]] = {
    "default": (32, 64, 128),   # ~95k parameters, the classic prototype host
    "small": (16, 32, 64),      # ~24k parameters, for fast episodes
    "tiny": (8, 16, 32),        # ~6k parameters, for tests
}


def host_widths(preset: str = "default", width: float = 1.0) -> tuple[int, ...]:
    """Channel widths of ``preset`` scaled by ``width`` (e.g. 4.0 for a 4x wider host)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown host preset {preset!r}; choose one of {sorted(PRESETS)}")
    if width <= 0:
        raise ValueError("width must be > 0")
    return tuple(max(1, round(w * width)) for w in PRESETS[preset])


class ConvBlock(nn.Sequential):
    """3x3 conv (no bias) -> BatchNorm -> ReLU -> 2x2 max-pool: halves the resolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class Head(nn.Module):
    """Global average pool -> linear classifier."""

    def __init__(self, cin: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc(h.mean(dim=(2, 3)))


class HostCNN(nn.Module):
    """``len(widths)`` conv blocks then a head. The blocks are exposed so slots can sit between them."""

    def __init__(self, widths: tuple[int, ...] = PRESETS["default"], num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        chans = (in_channels, *widths)
        self.widths = tuple(widths)
        self.blocks = nn.ModuleList(ConvBlock(a, b) for a, b in zip(chans[:-1], chans[1:]))
        self.head = Head(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)
