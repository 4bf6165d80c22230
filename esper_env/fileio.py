"""Files: atomic writes (a reader, or an interrupt, never sees a half-written file), output paths checked before
any work, and paths as committed records hold them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    The file gets the usual permissions for new files (``mkstemp`` alone would make it private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write a matplotlib figure atomically (its format from the suffix, PNG without one) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path, suffix=path.suffix or ".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format=(path.suffix[1:] or "png"))
    finally:
        plt.close(fig)
    return path


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
