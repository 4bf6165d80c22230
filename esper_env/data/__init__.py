"""Data: CIFAR-10 reader, the procedural offline dataset, splits, and the device-resident loader.

Imports nothing from the rest of the project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .cifar import ENV_VAR, DatasetError, load_cifar10, resolve_root
from .loader import DeviceLoader, random_crop_flip
from .synthetic import load_synthetic

DATASETS = ("cifar10", "synthetic")


@dataclass(frozen=True)
class Splits:
    """uint8 images [N,3,32,32] and int64 labels for train / validation / test.

    Validation is carved from the *training* images; the test set is only for final reporting.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def split_indices(n: int, train_size: int | None, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint (train, val) index sets drawn from ``range(n)``, deterministic given ``seed``."""
    if val_size < 1:
        raise ValueError("val_size must be >= 1")
    train_size = n - val_size if train_size is None else train_size
    if train_size < 1 or train_size + val_size > n:
        raise DatasetError(f"asked for train_size={train_size} + val_size={val_size} images but the training "
                           f"set has {n}; lower the sizes")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))
    return perm[val_size:val_size + train_size], perm[:val_size]


@dataclass(frozen=True)
class Pool:
    """A dataset as loaded: the whole training pool (validation is carved from it) and the test set."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images [N,C,H,W] at ``size`` x ``size`` (area averaging: every source pixel counts once), uint8."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="area")
    return out.round_().clamp_(0, 255).to(torch.uint8)


def load_pool(dataset: str = "synthetic", *, train_pool: int | None = None, test_size: int | None = None,
              data_root: str | os.PathLike | None = None, download: bool = False, synthetic_seed: int = 0,
              image_size: int = 32) -> Pool:
    """Load ``dataset``. The synthetic one is generated (and cached under ``<data root>/synthetic``) with
    ``train_pool`` training images and ``test_size`` test images; CIFAR-10 is read whole. ``image_size`` < 32
    resizes every image (synthetic and real alike, :func:`resize`) once, here."""
    if dataset == "cifar10":
        train_x, train_y, test_x, test_y = load_cifar10(data_root, download=download)
    elif dataset == "synthetic":
        if train_pool is None or test_size is None:
            raise ValueError("the synthetic dataset needs explicit train_size and test_size")
        cache = os.path.join(resolve_root(data_root), "synthetic")
        train_x, train_y, test_x, test_y = load_synthetic(train_pool, test_size, seed=synthetic_seed, cache_dir=cache)
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    return Pool(resize(train_x, image_size), train_y, resize(test_x, image_size), test_y)


def check_pool_fits(pool: Pool, train_images: int, val_size: int, test_size: int | None, where: str) -> None:
    """Refuse, in one line, sizes the loaded data cannot give: ``train_images`` + ``val_size`` from its training part
    and ``test_size`` (None = all) from its test part. ``where`` names the data (its root)."""
    n_train, n_test = len(pool.train_x), len(pool.test_x)
    if train_images + val_size <= n_train and (test_size or 0) <= n_test:
        return
    raise DatasetError(f"{where} holds {n_train:,} training and {n_test:,} test images, but the config asks for "
                       f"{train_images:,} training + {val_size:,} validation images"
                       + (f" and {test_size:,} test images" if test_size else "")
                       + "; set train_size, val_size and test_size to fit (for the 5,170-image CIFAR-10 subset: "
                       "SETTINGS['cifar10-subset'], or --preset cifar10-subset)")


def make_splits(pool: Pool, *, train_size: int | None, val_size: int, test_size: int | None, seed: int) -> Splits:
    """Carve train / val from the training pool (deterministic in ``seed``); take the first ``test_size``
    test images (None = all)."""
    tr, va = split_indices(len(pool.train_x), train_size, val_size, seed)
    ex, ey = pool.test_x, pool.test_y
    if test_size is not None:
        if test_size > len(ex):
            raise DatasetError(f"asked for test_size={test_size} but the test set has {len(ex)} images")
        ex, ey = ex[:test_size], ey[:test_size]
    return Splits(pool.train_x[tr], pool.train_y[tr], pool.train_x[va], pool.train_y[va], ex, ey)


def load_splits(dataset: str = "synthetic", *, train_size: int | None = None, val_size: int = 5000,
                test_size: int | None = None, split_seed: int = 0, data_root: str | os.PathLike | None = None,
                download: bool = False, synthetic_seed: int = 0) -> Splits:
    """:func:`load_pool` then :func:`make_splits`, in one call."""
    train_pool = None if train_size is None else train_size + val_size
    pool = load_pool(dataset, train_pool=train_pool, test_size=test_size, data_root=data_root,
                     download=download, synthetic_seed=synthetic_seed)
    return make_splits(pool, train_size=train_size, val_size=val_size, test_size=test_size, seed=split_seed)


__all__ = ["DATASETS", "ENV_VAR", "DatasetError", "DeviceLoader", "Pool", "Splits", "check_pool_fits", "load_cifar10",
           "load_pool",
           "load_splits", "load_synthetic", "make_splits", "random_crop_flip", "resize", "resolve_root",
           "split_indices"]
