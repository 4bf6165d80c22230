"""One epoch of training and one evaluation pass; learning-rate schedules. Used by the env and tools."""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .data import DeviceLoader
from .kasmina import MorphogeneticModel


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" picks CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def set_threads(threads: int = 0) -> int:
    """Set this process's torch CPU threads; 0 = one thread in a worker process (a SubprocVecEnv or
    ``esper compare`` worker: several envs share the cores, and two 2-thread processes on 2 cores ran ~10x
    slower than two 1-thread ones), else leave torch's default (all cores). Returns the count in use."""
    if threads == 0 and multiprocessing.parent_process() is not None:
        threads = 1
    if threads and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


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


def host_lr(lr: float, schedule: str, epoch: int, total: int) -> float:
    """The host's learning rate at the start of ``epoch``: ``lr`` ("constant") or its cosine decay ("cosine")."""
    return lr if schedule == "constant" else cosine_lr(lr, epoch, total)


def cosine_lr(base: float, epoch: int, total: int, floor: float = 0.0) -> float:
    """Cosine decay from ``base`` at epoch 0 to ``floor`` at ``total`` (evaluated at epoch start)."""
    p = min(max(epoch / max(total, 1), 0.0), 1.0)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * p))


def set_learning_rates(model: MorphogeneticModel, host_lr: float, seed_lr: float, schedule: str, epoch: int,
                       max_epochs: int, germinated_at: dict[int, int],
                       seed_scale: Callable[[int, int], float] | None = None) -> None:
    """The host group at ``host_lr``; each live seed's group on its own schedule from its germination epoch
    (``germinated_at``) to the end of the budget: cosine, or ``seed_lr`` throughout when ``schedule`` is constant;
    times ``seed_scale(slot, germinated_at)`` when given (an episode variant's seeds that fail)."""
    for group in model.optimizer.param_groups:
        if group["name"] == "host":
            group["lr"] = host_lr
        else:
            slot = int(group["name"][4:])
            start = germinated_at[slot]
            group["lr"] = seed_lr if schedule == "constant" else cosine_lr(seed_lr, epoch - start, max_epochs - start)
            if seed_scale is not None:
                group["lr"] *= seed_scale(slot, start)


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    finite: bool = True
    isolated: dict[int, float] = field(default_factory=dict)
    """Model slot index -> the mean shadow-pass loss of its isolated (GERMINATED or TRAINING) seed."""


def train_epoch(model: MorphogeneticModel, loader: DeviceLoader, precision: str = "fp32") -> EpochStats:
    """One pass over ``loader``: host loss + each TRAINING seed's shadow loss; blending ramps per batch.

    A non-finite loss gives ``finite=False``. It is checked once, at the end of the epoch, from a flag
    kept on the device: a per-batch check would synchronise device and host every batch. (After a
    non-finite loss the weights are not usable; the env ends the episode.)
    """
    model.train()
    device = loader.device
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    finite = torch.ones((), device=device, dtype=torch.bool)
    seen = 0
    steps = len(loader)
    isolated = [s.index for s in model.slots if s.isolated]  # the shadow passes' order: slots in block order
    shadow_total = torch.zeros(len(isolated), device=device)
    for x, y in loader:
        with autocast(device, precision):
            logits, shadows = model.forward_train(x)
            host_loss = F.cross_entropy(logits.float(), y)
            shadow_losses = [F.cross_entropy(s.float(), y) for s in shadows]
            loss = host_loss + sum(shadow_losses, torch.zeros((), device=device))
        if shadow_losses:
            shadow_total += torch.stack(shadow_losses).detach() * len(y)
        finite &= torch.isfinite(loss)
        model.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.optimizer.step()
        model.step_blend(1.0 / steps)
        total_loss += host_loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    if not finite.item():
        return EpochStats(float("nan"), 0.0, finite=False)
    return EpochStats(total_loss.item() / seen, correct.item() / seen,
                      isolated=dict(zip(isolated, (shadow_total / seen).tolist())))


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


def evaluate(model: MorphogeneticModel, loader: DeviceLoader, precision: str = "fp32",
             alpha: dict[int, float] | None = None, batch_stats: bool = False) -> EpochStats:
    """Mean loss and accuracy over ``loader``; ``alpha`` overrides slot alphas.

    ``batch_stats=True`` normalises with batch statistics (see :func:`batch_statistics`): counterfactual
    passes use it, because the host's running statistics have never seen a seed that is not yet blended,
    and would make any seed that shifts activation scale look harmful.
    """
    return evaluate_variants(model, loader, precision, [alpha or {}], batch_stats=batch_stats)[0]


def evaluate_variants(model: MorphogeneticModel, loader: DeviceLoader, precision: str = "fp32",
                      variants: list[dict[int, float]] = ({},), batch_stats: bool = False) -> list[EpochStats]:
    """:func:`evaluate` under each alpha override in ``variants``, in one pass over ``loader`` that
    computes the network's shared prefix once per batch (:meth:`MorphogeneticModel.forward_variants`).
    Equal to separate :func:`evaluate` calls (tested); runs under ``torch.inference_mode``."""
    model.eval()
    with batch_statistics(model) if batch_stats else nullcontext(), torch.inference_mode():
        device = loader.device
        losses = torch.zeros(len(variants), device=device)
        correct = torch.zeros(len(variants), device=device, dtype=torch.long)
        seen = 0
        for x, y in loader:
            with autocast(device, precision):
                outs = model.forward_variants(x, list(variants))
            for i, logits in enumerate(outs):
                logits = logits.float()
                losses[i] += F.cross_entropy(logits, y, reduction="sum")
                correct[i] += (logits.argmax(1) == y).sum()
            seen += len(y)
        losses, correct = losses.tolist(), correct.tolist()
    return [EpochStats(loss / seen, c / seen, finite=math.isfinite(loss / seen)) for loss, c in zip(losses, correct)]
