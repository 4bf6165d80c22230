"""A procedural CIFAR-shaped dataset for offline runs (3x32x32 uint8, 10 classes).

Each image shows one class-defining shape (disk, ring, square, frame, plus, triangle, stripes, checker,
two dots, crescent) at a random position, scale, rotation and colour, over a smooth random-colour
background with distractor blobs, a smaller decoy shape of another class, and pixel noise. The class is the
*larger* shape's: a property of shape and relative size, never of colour or position, so raw pixels are
not linearly separable, while a CNN can learn it with capacity to spare (docs/environment.md, "Offline dataset", gives
the measured numbers).

Generation is chunked with one RNG per (seed, split, chunk): image ``i`` is the same whatever the total
asked for, and results are cached as ``.npz`` files (written atomically).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..fileio import atomic_path

GENERATOR_VERSION = 2
"""Bumped whenever the images change; part of the cache key."""
CHUNK = 1000
NUM_CLASSES = 10
CLASS_NAMES = ("disk", "ring", "square", "frame", "plus", "triangle", "stripes", "checker",
               "two_dots", "crescent")

# Difficulty knobs, gathered in one place (docs/environment.md, "Offline dataset", reports what they give).
RADIUS_PX = (5.0, 9.5)          # shape half-size in pixels
NOISE_STD = 22.0                # per-pixel Gaussian noise, in 0..255 units
DISTRACTORS = (1, 4)            # number of soft blobs per image (low, high exclusive)
MIN_CONTRAST = 40.0             # minimum colour distance shape vs local background
DECOY_SCALE = (0.45, 0.7)       # decoy shape's size relative to the class shape


def _shape_mask(cls: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean masks [N, H, W] of each image's class shape, in its local coordinates (u, v)."""
    r2 = u * u + v * v
    box = np.maximum(np.abs(u), np.abs(v))
    c = cls[:, None, None]
    masks = [
        r2 < 1.0,                                                           # disk
        (r2 < 1.0) & (r2 > 0.36),                                           # ring
        box < 0.8,                                                          # square
        (box < 0.85) & (box > 0.5),                                         # frame
        ((np.abs(u) < 0.3) & (np.abs(v) < 0.95)) | ((np.abs(v) < 0.3) & (np.abs(u) < 0.95)),  # plus
        (v > -0.6) & (v < 0.9 - 1.7 * np.abs(u)),                           # triangle
        (box < 0.85) & (np.cos(3.5 * np.pi * u) > 0),                       # stripes
        (box < 0.85) & (np.sin(2.2 * np.pi * u) * np.sin(2.2 * np.pi * v) > 0),  # checker
        ((u - 0.5) ** 2 + v * v < 0.17) | ((u + 0.5) ** 2 + v * v < 0.17),  # two dots
        (r2 < 1.0) & ((u - 0.5) ** 2 + v * v > 0.6),                        # crescent
    ]
    out = np.zeros(u.shape, dtype=bool)
    for k, m in enumerate(masks):
        out |= (c == k) & m
    return out


def _smooth_field(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """Random colour field [n, 3, 32, 32] in 0..255, bilinear-upsampled from a cells x cells grid."""
    grid = torch.from_numpy(rng.uniform(0, 255, size=(n, 3, cells, cells)).astype(np.float32))
    up = torch.nn.functional.interpolate(grid, size=(32, 32), mode="bilinear", align_corners=True)
    return up.numpy()


def _draw(rng: np.random.Generator, img: np.ndarray, classes: np.ndarray, rad: np.ndarray,
          xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Paint each image's shape of ``classes`` with half-size ``rad`` at a random place, angle, colour."""
    n = len(classes)
    cx, cy = (rng.uniform(rad[:, 0, 0] + 1, 31 - rad[:, 0, 0])[:, None, None] for _ in range(2))
    theta = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    du, dv = (xs - cx) / rad, (ys - cy) / rad
    u = np.cos(theta) * du + np.sin(theta) * dv
    v = -np.sin(theta) * du + np.cos(theta) * dv
    mask = _shape_mask(classes, u, v)[:, None]
    bg_mean = (img * mask).sum((2, 3), keepdims=True) / np.maximum(mask.sum((2, 3), keepdims=True), 1)
    col = rng.uniform(0, 255, (n, 3, 1, 1))
    # Push the shape colour away from the background under it, so every shape is visible.
    diff = col - bg_mean
    dist = np.linalg.norm(diff, axis=1, keepdims=True)
    col = np.where(dist < MIN_CONTRAST, bg_mean + diff / np.maximum(dist, 1e-3) * MIN_CONTRAST, col)
    return np.where(mask, col, img)


def _chunk(seed: int, split: int, index: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([GENERATOR_VERSION, seed, split, index])
    labels = rng.permutation(np.arange(n) % NUM_CLASSES)
    ys, xs = np.mgrid[0:32, 0:32].astype(np.float32) + 0.5
    img = _smooth_field(rng, n, int(rng.integers(2, 5)))
    # Distractors: soft blobs of random colour; they carry no class information.
    for _ in range(int(rng.integers(*DISTRACTORS))):
        cx, cy = rng.uniform(0, 32, (2, n, 1, 1))
        rad = rng.uniform(1.5, 4.0, (n, 1, 1))
        w = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * rad ** 2))[:, None]
        col = rng.uniform(0, 255, (n, 3, 1, 1))
        img = img * (1 - w) + col * w
    # A smaller decoy of another class first, then the class shape (drawn over it where they overlap).
    rad = rng.uniform(*RADIUS_PX, (n, 1, 1))
    decoy = (labels + rng.integers(1, NUM_CLASSES, n)) % NUM_CLASSES
    img = _draw(rng, img, decoy, rad * rng.uniform(*DECOY_SCALE, (n, 1, 1)), xs, ys)
    img = _draw(rng, img, labels, rad, xs, ys)
    img = img + rng.normal(0, NOISE_STD, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), labels.astype(np.int64)


def generate(n: int, seed: int = 0, split: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8 [n,3,32,32]) and labels; ``split`` 0 = train pool, 1 = test pool."""
    if n < 0:
        raise ValueError("n must be >= 0")
    xs, ys = [], []
    for index in range((n + CHUNK - 1) // CHUNK):
        x, y = _chunk(seed, split, index, CHUNK)
        xs.append(x)
        ys.append(y)
    if not xs:
        return np.zeros((0, 3, 32, 32), np.uint8), np.zeros(0, np.int64)
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_synthetic(train_pool: int, test_size: int, seed: int = 0, cache_dir: str | os.PathLike | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y) tensors; cached under ``cache_dir`` (None = no cache)."""
    def one(n: int, split: int) -> tuple[np.ndarray, np.ndarray]:
        if cache_dir is None:
            return generate(n, seed, split)
        chunks = (n + CHUNK - 1) // CHUNK  # cache whole chunks so nearby sizes share a file
        path = Path(cache_dir) / f"synthetic-v{GENERATOR_VERSION}-s{seed}-p{split}-c{chunks}.npz"
        if path.is_file():
            try:
                with np.load(path) as f:
                    return f["x"][:n], f["y"][:n]
            except Exception:  # noqa: BLE001 - a damaged cache file is regenerated, not fatal
                pass
        x, y = generate(chunks * CHUNK, seed, split)
        _atomic_savez(path, x=x, y=y)
        return x[:n], y[:n]

    tx, ty = one(train_pool, 0)
    vx, vy = one(test_size, 1)
    return torch.from_numpy(np.ascontiguousarray(tx)), torch.from_numpy(ty), \
        torch.from_numpy(np.ascontiguousarray(vx)), torch.from_numpy(vy)
