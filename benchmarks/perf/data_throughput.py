"""Images/s of Esper's device-resident loader vs a plain torch DataLoader, in one run.

Measures (1) the loader alone and (2) loader + training the default host CNN, for both
* ``DeviceLoader``: uint8 tensors resident on the device, batched crop/flip as tensor ops, and
* a ``torch.utils.data.DataLoader`` over a per-sample Dataset doing the same crop/flip/normalise
  per image (the usual torchvision-transforms pattern, written with torch ops so no torchvision import).

    python benchmarks/perf/data_throughput.py [--images 8192] [--batch-size 128] [--workers 0]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from esper_env.data import DeviceLoader
from esper_env.data.loader import CIFAR_MEAN, CIFAR_STD, PAD
from esper_env.data.synthetic import generate
from esper_env.kasmina import MorphogeneticModel, host_widths
from esper_env.training import autocast, resolve_precision


class PerSampleDataset(torch.utils.data.Dataset):
    """One image at a time: random crop (reflect pad 4), random flip, normalise -- like T.Compose."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, seed: int = 0):
        self.x, self.y = x, y
        self.mean = torch.tensor(CIFAR_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR_STD).view(3, 1, 1)
        self.g = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        img = F.pad(self.x[i].float()[None], (PAD,) * 4, mode="reflect")[0]
        dy, dx = torch.randint(0, 2 * PAD + 1, (2,), generator=self.g).tolist()
        img = img[:, dy:dy + 32, dx:dx + 32]
        if torch.rand((), generator=self.g) < 0.5:
            img = img.flip(-1)
        return (img / 255 - self.mean) / self.std, self.y[i]


def images_per_second(batches, train_step=None, warmup: int = 2) -> float:
    n, start = 0, None
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            start, n = time.perf_counter(), 0
        if train_step is not None:
            train_step(x, y)
        n += len(y)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    args = ap.parse_args(argv)
    if args.images < 4 * args.batch_size:  # two warm-up batches, then at least two timed ones
        ap.error(f"--images must be at least 4 batches ({4 * args.batch_size}) to time anything after the warm-up")
    x, y = (torch.from_numpy(a) for a in generate(args.images, seed=0))
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    model = MorphogeneticModel(host_widths("default")).to(memory_format=torch.channels_last)

    def step(xb, yb):
        xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
            loss = F.cross_entropy(model(xb).float(), yb)
        model.optimizer.zero_grad()
        loss.backward()
        model.optimizer.step()

    def ours():
        return DeviceLoader(x, y, args.batch_size, train=True, generator=torch.Generator().manual_seed(0))

    def plain():
        return torch.utils.data.DataLoader(PerSampleDataset(x, y), batch_size=args.batch_size, shuffle=True,
                                           num_workers=args.workers, drop_last=True)

    model.train()
    print(f"{args.images} images, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"DataLoader workers {args.workers}, training in {precision}")
    rows = [("loader alone", images_per_second(ours()), images_per_second(plain())),
            ("loader + training", images_per_second(ours(), step), images_per_second(plain(), step))]
    print(f"{'':20s} {'DeviceLoader':>14s} {'DataLoader':>14s} {'ratio':>7s}")
    for name, a, b in rows:
        print(f"{name:20s} {a:12,.0f}/s {b:12,.0f}/s {a / b:6.1f}x")


if __name__ == "__main__":
    main()
