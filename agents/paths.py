"""Paths a command is given: output checks before any work starts, and portable paths for records."""

from __future__ import annotations

import os
from pathlib import Path

SUBSET_ROOT = "../shared/data/cifar10-subset"
"""Where this project keeps the real CIFAR-10 subset, relative to the repository (scripts run from there; records
keep the path as given, and the cache key leaves it out)."""


def subset_overrides(**more) -> dict:
    """Esper-CIFAR10-v0's overrides for the real-subset evaluation (``SETTINGS["cifar10-subset"]``) at
    :data:`SUBSET_ROOT`, plus ``more``."""
    from esper_env.config import SETTINGS

    return dict(SETTINGS["cifar10-subset"], data_root=SUBSET_ROOT, **more)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(p: Path, base: Path, flag: str) -> None:
    base = _nearest_existing(base)
    if not base.is_dir():
        raise ValueError(f"{flag} {p}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK):
        raise ValueError(f"{flag} {p}: {base} is not writable; choose another location")


def check_output_file(path: str | os.PathLike | None, flag: str, formats: tuple[str, ...] | None = None) -> None:
    """Refuse, before any work, an output file that is a folder, in a folder that cannot be written, or
    (``formats``) whose extension is not one of those that can be written."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {p} is a folder; give a file name inside it")
    _check_writable(p, p.parent if str(p.parent) else Path("."), flag)
    if formats is not None and p.suffix.lower().lstrip(".") not in formats:
        raise ValueError(f"{flag} {p}: cannot write a {p.suffix or 'extension-less'} file; use one of "
                         + ", ".join("." + f for f in formats))


def check_output_dir(path: str | os.PathLike | None, flag: str) -> None:
    """Refuse, before any work, an output folder that is a file or cannot be written."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {p} is a file; give a folder")
    _check_writable(p, p, flag)


def plot_formats() -> tuple[str, ...]:
    """File extensions matplotlib can write here."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backend_bases import FigureCanvasBase

    return tuple(FigureCanvasBase.get_supported_filetypes())


def portable(path: str | os.PathLike | None, base: str | os.PathLike | None = None) -> str | None:
    """``path`` as a committed record should hold it: relative to ``base`` (default: the working folder) when
    it is an absolute path under ``base``'s parent (a sibling such as ``../shared/...``), else as given.
    Results never carry the machine's absolute paths (``/home/<user>/...``) when a relative one exists."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        return str(path)
    here = Path(base or Path.cwd()).resolve()
    for root, prefix in ((here, Path()), (here.parent, Path(".."))):
        try:
            return str(prefix / p.resolve().relative_to(root))
        except ValueError:
            continue
    return str(path)
