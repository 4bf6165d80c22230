"""Read CIFAR-10's standard ``cifar-10-batches-py`` folder straight into uint8 tensors.

No torchvision import unless a download is asked for (torchvision is imported lazily, only there), no
per-image PIL: each batch file is one pickled dict whose ``data`` is already a ``[K, 3072]`` uint8 array.
Folders with fewer images per batch than the original (e.g. the 5,170-image subset) are accepted; the
original checksums are not enforced, but a malformed or truncated file fails with a clear error naming it.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
ENV_VAR = "ESPER_DATA_DIR"
DEFAULT_ROOT = Path("~/.cache/esper").expanduser()


class DatasetError(RuntimeError):
    """A dataset that is missing or malformed; the message says what to do."""


class _SafeUnpickler(pickle.Unpickler):
    # A batch file only needs numpy's array reconstruction; refuse anything else a file could name,
    # so reading a data folder can never run arbitrary code.
    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("builtins", "bytes"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``cifar-10-batches-py``: ``root`` if given, else ``$ESPER_DATA_DIR``, else
    ``~/.cache/esper``. ``root`` may also point at the ``cifar-10-batches-py`` folder itself."""
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    path = Path(root).expanduser()
    return path.parent if path.name == FOLDER else path


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (uint8 images [K, 3, 32, 32], int64 labels [K]); clear error if malformed."""
    try:
        with open(path, "rb") as f:
            entry = _SafeUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated, not a pickle, or names something it should not
        raise DatasetError(f"{path}: not a readable CIFAR-10 batch file ({type(e).__name__}: {e}); "
                           "delete it and download again, or point the data root elsewhere") from None
    if not isinstance(entry, dict) or "data" not in entry or ("labels" not in entry and "fine_labels" not in entry):
        raise DatasetError(f"{path}: expected a dict with 'data' and 'labels' (CIFAR-10 python format)")
    data, labels = entry["data"], np.asarray(entry.get("labels", entry.get("fine_labels")))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DatasetError(f"{path}: 'data' must be a uint8 array of shape [K, 3072], got {shape}")
    if labels.shape != (data.shape[0],) or labels.size == 0 or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"{path}: 'labels' must hold {data.shape[0]} integers in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _download(root: Path) -> None:
    try:
        import torchvision  # lazily: only a download needs it
    except Exception as e:  # noqa: BLE001 - any import failure means "cannot download here"
        raise DatasetError(f"CIFAR-10 is not in {root / FOLDER} and torchvision (needed to download it) "
                           f"cannot be imported: {e}") from None
    torchvision.datasets.CIFAR10(str(root), train=True, download=True)


def load_cifar10(root: str | os.PathLike | None = None, download: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y) as uint8 [N,3,32,32] and int64 [N] CPU tensors."""
    base = resolve_root(root)
    folder = base / FOLDER
    missing = [n for n in TRAIN_FILES + TEST_FILES if not (folder / n).is_file()]
    if missing and download:
        _download(base)
        missing = [n for n in TRAIN_FILES + TEST_FILES if not (folder / n).is_file()]
    if missing:
        raise DatasetError(
            f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}. Put the python-format files "
            f"there, pass data_root=... (or set {ENV_VAR}) to the folder that holds {FOLDER}/, "
            "allow a download (download=True), or use the offline 'synthetic' dataset.")
    parts = [read_batch(folder / n) for n in TRAIN_FILES]
    test_x, test_y = read_batch(folder / TEST_FILES[0])
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    return (torch.from_numpy(train_x), torch.from_numpy(train_y),
            torch.from_numpy(np.ascontiguousarray(test_x)), torch.from_numpy(test_y))


def write_batch(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write a batch file in CIFAR-10's python format (used by tests and to export data)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), 3072)
    entry = {"batch_label": "esper", "labels": [int(x) for x in labels], "data": images,
             "filenames": [f"{i}.png" for i in range(len(images))]}
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=2)
