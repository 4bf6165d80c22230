"""One epoch of training and one evaluation pass; learning-rate schedules. Used by the env and tools."""

from __future__ import annotations

import math
from contextlib import contextmanager, nullcontext
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


@contextmanager
def batch_statistics(model: torch.nn.Module):
    """Inside, BatchNorm layers normalise with each batch's statistics and leave their running
    statistics exactly as they were (momentum 0; the step counter restored)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None
              else None) for m in norms]
    try:
        for m in norms:
            m.train()
            m.momentum = 0.0
        yield
    finally:
        for m, (training, momentum, count) in zip(norms, saved):
            m.train(training)
            m.momentum = momentum
            if count is not None:
                m.num_batches_tracked.copy_(count)


@torch.no_grad()
def evaluate(model: MorphogeneticModel, loader: DeviceLoader, precision: str = "fp32",
             alpha: dict[int, float] | None = None, batch_stats: bool = False) -> EpochStats:
    """Mean loss and accuracy over ``loader``; ``alpha`` overrides slot alphas.

    ``batch_stats=True`` normalises with batch statistics (see :func:`batch_statistics`): counterfactual
    passes use it, because the host's running statistics have never seen a seed that is not yet blended,
    and would make any seed that shifts activation scale look harmful.
    """
    model.eval()
    with batch_statistics(model) if batch_stats else nullcontext():
        return _evaluate(model, loader, precision, alpha)


def _evaluate(model, loader, precision, alpha) -> EpochStats:
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
