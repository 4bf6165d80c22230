"""One epoch of training and one evaluation pass; learning-rate schedules. Used by the env and tools."""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import DeviceLoader
from .kasmina import MorphogeneticModel


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> "bf16" where the device has fast bfloat16 (CUDA with bf16, CPUs with oneDNN bf16), else "fp32"."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    try:
        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
    except (AttributeError, RuntimeError):  # a private probe: if it is gone, be safe
        return "fp32"


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def cosine_lr(base: float, epoch: int, total: int, floor: float = 0.0) -> float:
    """Cosine decay from ``base`` at epoch 0 to ``floor`` at ``total`` (evaluated at epoch start)."""
    p = min(max(epoch / max(total, 1), 0.0), 1.0)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * p))


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    finite: bool = True


def train_epoch(model: MorphogeneticModel, loader: DeviceLoader, precision: str = "fp32") -> EpochStats:
    """One pass over ``loader``: host loss + each TRAINING seed's shadow loss; blending ramps per batch.

    Stops early (``finite=False``) on a non-finite loss instead of raising.
    """
    model.train()
    device = loader.device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    steps = len(loader)
    for x, y in loader:
        with autocast(device, precision):
            logits, shadows = model.forward_train(x)
            host_loss = F.cross_entropy(logits.float(), y)
            loss = host_loss + sum((F.cross_entropy(s.float(), y) for s in shadows), torch.zeros((), device=device))
        if not torch.isfinite(loss):
            return EpochStats(float("nan"), 0.0, finite=False)
        model.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.optimizer.step()
        model.step_blend(1.0 / steps)
        total_loss += host_loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    return EpochStats(total_loss.item() / seen, correct.item() / seen)


@torch.no_grad()
def evaluate(model: MorphogeneticModel, loader: DeviceLoader, precision: str = "fp32",
             alpha: dict[int, float] | None = None) -> EpochStats:
    """Mean loss and accuracy over ``loader`` in eval mode; ``alpha`` overrides slot alphas."""
    model.eval()
    device = loader.device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for x, y in loader:
        with autocast(device, precision):
            logits = model(x, alpha).float()
        total_loss += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    loss = total_loss.item() / seen
    return EpochStats(loss, correct.item() / seen, finite=math.isfinite(loss))
