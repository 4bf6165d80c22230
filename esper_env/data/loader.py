"""Device-resident batches with batched augmentation (no per-image DataLoader).

Images stay uint8 on the training device; each batch is cropped (pad 4, random offset) and flipped as
tensor ops over the whole batch, then normalised on the fly. All randomness comes from one seeded
``torch.Generator``, so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
PAD = 4


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = PAD) -> torch.Tensor:
    """Batched random crop (reflect-pad ``pad``) and horizontal flip of images [B,C,H,W], same dtype out.

    Two ``gather`` calls (rows, then flipped-or-not columns) do every image's crop at once.
    """
    b, c, h, w = x.shape
    padded = F.pad(x if x.is_floating_point() else x.float(), (pad,) * 4, mode="reflect")
    dev, gdev = x.device, generator.device  # a generator on the data's device: no per-batch transfer
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=gdev).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator, device=gdev).to(dev)
    flip = (torch.rand(b, generator=generator, device=gdev) < 0.5).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None].expand(b, c, h, w + 2 * pad)
    cols = torch.arange(w, device=dev).expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    out = padded.gather(2, rows).gather(3, cols[:, None, None, :].expand(b, c, h, w))
    return out if x.is_floating_point() else out.to(x.dtype)


class DeviceLoader:
    """Iterate (normalised float images, labels) batches from resident uint8 tensors."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, *, train: bool,
                 generator: torch.Generator | None = None, device: str | torch.device = "cpu",
                 channels_last: bool = True, mean=CIFAR_MEAN, std=CIFAR_STD, pad: int | None = None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("images must be a uint8 tensor [N, C, H, W]")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.device = torch.device(device)
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = batch_size
        self.train = train
        self.pad = pad if pad is not None else max(1, PAD * images.shape[-1] // 32)
        """Random-crop padding: 4 pixels at 32x32, the same fraction of the side at other sizes."""
        self.generator = generator if generator is not None else torch.Generator(self.device).manual_seed(0)
        self.channels_last = channels_last
        self.mean = torch.tensor(mean, device=self.device).view(1, -1, 1, 1) * 255
        self.std = torch.tensor(std, device=self.device).view(1, -1, 1, 1) * 255

    def __len__(self) -> int:
        n = len(self.images)
        # Training drops a ragged last batch (BatchNorm dislikes tiny batches) unless it is the only one.
        return max(n // self.batch_size, 1) if self.train else -(-n // self.batch_size)

    @property
    def samples_per_epoch(self) -> int:
        """Images one pass yields (training drops the ragged last batch)."""
        return min(len(self) * self.batch_size, len(self.images))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        out = (x - self.mean) / self.std
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.images)
        if self.train:
            order = torch.randperm(n, generator=self.generator, device=self.generator.device).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.images[idx].float()
            if self.train:
                x = random_crop_flip(x, self.generator, self.pad)
            yield self.normalize(x), self.labels[idx]
