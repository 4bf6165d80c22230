"""Result records: one JSON-able dict per episode with everything needed to reproduce it."""

from __future__ import annotations

import datetime
import os
import platform

import torch

import esper_env
from esper_env.config import EsperConfig

from .base import EpisodeRecord


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def run_metadata() -> dict:
    """Package version, machine and date, recorded with every saved result."""
    return dict(version=esper_env.__version__, date=datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), machine=f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores",
        cpus=torch.get_num_threads(), python=platform.python_version(), torch=torch.__version__)


def episode_result(record: EpisodeRecord, config: EsperConfig, **extra) -> dict:
    """The episode's outcome, return and per-epoch validation accuracy, with its config and metadata."""
    if record.outcome is None:
        raise ValueError("the episode has not ended: no outcome to record")
    return dict(agent=record.agent, seed=record.seed, config=config.to_dict(), **run_metadata(),
                episode_return=record.episode_return, outcome=record.outcome.to_dict(),
                val_accuracy=[record.initial_report.val_accuracy] + [s.report.val_accuracy for s in record.steps],
                **extra)
