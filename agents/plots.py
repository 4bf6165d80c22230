"""Accuracy curve of one episode with its lifecycle events marked."""

from __future__ import annotations

import os
from pathlib import Path

from esper_env.fileio import atomic_path

from .base import EpisodeRecord

EVENT_STYLE = {"germinate": ("tab:green", "^"), "training": ("tab:olive", "."), "blending": ("tab:blue", "s"),
               "fossilized": ("tab:purple", "*"), "cull": ("tab:red", "x"), "dormant": ("tab:gray", ".")}


def plot_episode(record: EpisodeRecord, path: str | os.PathLike, title: str | None = None) -> Path:
    """Save a PNG of train/val accuracy per epoch with germinate/blend/fossilize/cull marks (atomically)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = [record.initial_report] + [s.report for s in record.steps]
    epochs = [r.epoch for r in reports]
    val = [100 * r.val_accuracy for r in reports]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(epochs[1:], [100 * r.train_accuracy for r in reports[1:]], color="0.6", label="train")
    ax.plot(epochs, val, color="black", label="validation")
    seen = set()
    for ev in record.history:
        color, marker = EVENT_STYLE.get(ev.label.split()[0], ("tab:orange", "o"))
        e = min(ev.epoch, epochs[-1])
        label = ev.label if ev.label not in seen else None
        seen.add(ev.label)
        ax.axvline(e, color=color, alpha=0.25, lw=1)
        ax.scatter([e], [val[e]], color=color, marker=marker, s=70, zorder=3, label=label)
        ax.annotate(f"s{ev.slot} {ev.blueprint or ''}", (e, val[e]), textcoords="offset points",
                    xytext=(3, -12), fontsize=7, color=color)
    test = record.outcome.test_accuracy if record.outcome is not None else None
    ax.set_title(title or f"{record.agent}, seed {record.seed}"
                 + (f": final test {100 * test:.1f}%" if test is not None else ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
