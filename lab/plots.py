"""Figures: one episode's accuracy curve with its lifecycle events, comparison curves (PPO's training curves are
:mod:`agents.simic.curves`)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from agents.base import EpisodeRecord
from esper_env.fileio import save_figure

from .records import RunRecord

EVENT_STYLE = {"germinate": ("tab:green", "^"), "training": ("tab:olive", "."), "blending": ("tab:blue", "s"),
               "fossilized": ("tab:purple", "*"), "cull": ("tab:red", "x"), "dormant": ("tab:gray", ".")}


def plot_episode(record: EpisodeRecord, path: str | os.PathLike, title: str | None = None) -> Path:
    """Save a figure (format from the name's extension) of train/val accuracy per epoch, with germinate /
    blend / fossilize / cull marks (atomically)."""
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
    return save_figure(fig, path)


def plot_comparison_curves(rows: dict[str, list[RunRecord]], path: str | os.PathLike, title: str = "") -> Path:
    """Validation accuracy per epoch per row: mean over seeds with a min-max band; each run's germinate
    (^), fossilize (*) and cull (x) events marked on its row's mean curve."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(9, 5))
    marks = {"germinate": "^", "fossilized": "*", "cull": "x"}
    for i, (name, runs) in enumerate(rows.items()):
        # Runs of one row may differ in length (a compute-matched row trains each seed for its own epochs):
        # each epoch's statistics are over the runs that reached it.
        length = max(len(r.val_accuracy) for r in runs)
        curves = np.full((len(runs), length), np.nan)
        for k, r in enumerate(runs):
            curves[k, :len(r.val_accuracy)] = [100 * v for v in r.val_accuracy]
        epochs = np.arange(length)
        mean = np.nanmean(curves, 0)
        color = _color(i, len(rows))
        ax.plot(epochs, mean, color=color, label=f"{name} (n={len(runs)})", lw=1.6,
                ls="--" if name.startswith("scratch:") else "-")
        ax.fill_between(epochs, np.nanmin(curves, 0), np.nanmax(curves, 0), color=color, alpha=0.12)
        for r in runs:
            for ev in r.outcome.history:
                label = {"GERMINATED": "germinate", "FOSSILIZED": "fossilized", "CULLED": "cull"}.get(ev.stage.name)
                if ev.cause.value == "command" and label:
                    e = min(ev.epoch, len(mean) - 1)
                    ax.scatter([e], [mean[e]], marker=marks[label], color=color, s=45, zorder=3)
    for label, m in marks.items():
        ax.scatter([], [], marker=m, color="0.3", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    return save_figure(fig, path)


def plot_accuracy_vs_flops(rows: dict[str, list[RunRecord]], path: str | os.PathLike, title: str = "") -> Path:
    """Final test accuracy against training FLOPs, one point per run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for i, (name, runs) in enumerate(rows.items()):
        ax.scatter([r.outcome.train_flops for r in runs], [100 * r.outcome.test_accuracy for r in runs],
                   color=_color(i, len(rows)), marker="o" if not name.startswith("scratch:") else "s", label=name,
                   alpha=0.8)
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.set_xlabel("training FLOPs per episode")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def _color(i: int, n: int):
    """Row ``i``'s color: matplotlib's ten-color cycle, or twenty distinct colors when there are more rows."""
    import matplotlib.pyplot as plt

    return f"C{i}" if n <= 10 else plt.get_cmap("tab20")(i % 20)


def plot_intervals(rows: dict[str, list[RunRecord]], path: str | os.PathLike, title: str = "") -> Path:
    """Per row: the IQM of test accuracy with its bootstrap 95% CI, and the mean with its Student-t 95% CI."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .compare.stats import iqm_ci, mean_ci, test_points

    names = list(rows)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.5))
    for i, name in enumerate(names):
        x = [test_points(r) for r in rows[name]]
        for (m, lo, hi), dy, style, label in ((iqm_ci(x), -0.12, "o", "IQM"), (mean_ci(x), 0.12, "s", "mean")):
            err = None if math.isnan(lo) else [[m - lo], [hi - m]]
            ax.errorbar([m], [i + dy], xerr=err, fmt=style, color=_color(i, len(rows)), capsize=3,
                        label=label if i == 0 else None, mfc="white" if label == "mean" else None)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("final test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_pareto(rows: dict[str, list[RunRecord]], path: str | os.PathLike, title: str = "") -> Path:
    """Test accuracy against training FLOPs and against parameters added: one marker per row, mean with 95%
    CIs on both axes, so that "better" can be read at equal cost."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .compare.stats import mean_ci, test_points

    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
    costs = (("training FLOPs per episode", lambda r: r.outcome.train_flops),
             ("parameters added", lambda r: r.outcome.total_params - r.outcome.host_params))
    for ax, (label, cost) in zip(axes, costs):
        for i, (name, runs) in enumerate(rows.items()):
            (my, ylo, yhi), (mx, xlo, xhi) = mean_ci(test_points(r) for r in runs), mean_ci(cost(r) for r in runs)
            yerr = None if math.isnan(ylo) else [[my - ylo], [yhi - my]]
            xerr = None if math.isnan(xlo) else [[mx - xlo], [xhi - mx]]
            ax.errorbar([mx], [my], xerr=xerr, yerr=yerr, capsize=3, color=_color(i, len(rows)), label=name,
                        fmt="o" if not name.startswith("scratch:") else "s")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("final test accuracy (%)")
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_formats() -> tuple[str, ...]:
    """File extensions matplotlib can write here."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(FigureCanvasBase.get_supported_filetypes())
