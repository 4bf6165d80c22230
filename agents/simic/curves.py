"""PPO's training curves, read back from its TensorBoard events."""

from __future__ import annotations

import os
from pathlib import Path

from esper_env.fileio import save_figure

TRAINING_PANELS = (
    ("agreement with the heuristic", (("simic/agreement_greedy", "greedy"), ("simic/agreement_sampled", "sampled"))),
    ("policy entropy (nats)", (("train/entropy_loss", "entropy"),)),
    ("critic", (("train/explained_variance", "explained variance"), ("train/approx_kl", "approx. KL"))),
    ("test accuracy of the finished training episodes (%)", (("esper/final_test_accuracy", "per update"),)),
)
"""Panels of :func:`plot_training_curves`: (title, ((TensorBoard tag, label), ...))."""


def plot_training_curves(tensorboard_dir: str | os.PathLike, path: str | os.PathLike, title: str = "") -> Path:
    """The warm start's health over a PPO run, from its TensorBoard events: agreement with the heuristic,
    entropy, explained variance / approximate KL and the episodes' test accuracy, against env steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, list] = {}
    for run in sorted(Path(tensorboard_dir).glob("*/")):
        ea = EventAccumulator(str(run), size_guidance={"scalars": 0})
        ea.Reload()
        for tag in ea.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend(ea.Scalars(tag))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (panel, series) in zip(axes.flat, TRAINING_PANELS):
        for tag, label in series:
            events = sorted(scalars.get(tag, []), key=lambda e: e.step)
            sign = -1.0 if tag == "train/entropy_loss" else 100.0 if tag == "esper/final_test_accuracy" else 1.0
            ax.plot([e.step for e in events], [sign * e.value for e in events], label=label, lw=1.2)
        ax.set_title(panel, fontsize=10)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("env steps")
    fig.suptitle(title)
    return save_figure(fig, path)
