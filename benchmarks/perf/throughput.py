"""Training throughput: the env's own path against a plain PyTorch reference loop, measured side by side.

    python benchmarks/perf/throughput.py [--epochs 3] [--hosts default small] [--train-images 4096]

For each host it trains, from the same initialisation on the same images (the real CIFAR-10 subset when
present, else the offline dataset), for the same epochs at a constant learning rate:

* **reference** -- the original prototype's style: NCHW float32, ``torch.utils.data.DataLoader`` over a
  per-sample Dataset doing crop/flip/normalise, batch 128;
* **env path** -- what ``EsperEnv.step`` runs: ``DeviceLoader`` (resident uint8, batched crop/flip) and
  ``training.train_epoch`` at the env's resolved precision, channels_last;
* **levers**, each on its own: env path without channels_last; batch 512 with the learning rate x4;
  bf16 autocast (only where the CPU has bfloat16 units: without them it is emulated and 10-100x slower).

It prints images/s (epochs after the first, which warms up), the ratio to the reference, the final test
accuracy of each (the paths must agree within noise), and the training FLOP/s as a fraction of this run's
measured fp32 (and bf16) matmul peak. Ratios are what to read: these machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from data_throughput import PerSampleDataset  # the same per-sample reference Dataset

from esper_env.data import DeviceLoader, load_splits
from esper_env.kasmina import MorphogeneticModel, flops, host_widths
from esper_env.training import evaluate, resolve_precision, train_epoch
from lab.records import run_metadata
from lab.settings import SUBSET_ROOT

SUBSET = Path(__file__).resolve().parents[2] / SUBSET_ROOT  # the repository-relative path, from anywhere


def matmul_peak(dtype: torch.dtype, n: int = 1024, seconds: float = 1.0) -> float:
    """FLOP/s of an n x n matmul in ``dtype`` (median of repeats within ``seconds``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 2:
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(times)


def model_for(host: str, channels_last: bool) -> MorphogeneticModel:
    m = MorphogeneticModel(host_widths(host), init_seed=0, lr=0.05)
    return m.to(memory_format=torch.channels_last) if channels_last else m


def set_lr(model: MorphogeneticModel, lr: float) -> None:
    for g in model.optimizer.param_groups:
        g["lr"] = lr


def run_reference(host: str, sp, epochs: int, batch: int = 128) -> tuple[list[float], float, MorphogeneticModel]:
    model = model_for(host, channels_last=False)
    loader = torch.utils.data.DataLoader(PerSampleDataset(sp.train_x, sp.train_y), batch_size=batch, shuffle=True,
                                         drop_last=True, generator=torch.Generator().manual_seed(0))
    rates = []
    for _ in range(epochs):
        model.train()
        n, t = 0, time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            model.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            model.optimizer.step()
            n += len(y)
        rates.append(n / (time.perf_counter() - t))
    return rates, test_accuracy(model, sp), model


def run_env_path(host: str, sp, epochs: int, batch: int = 128, lr: float = 0.05, channels_last: bool = True,
                 precision: str = "auto") -> tuple[list[float], float, MorphogeneticModel]:
    model = model_for(host, channels_last)
    set_lr(model, lr)
    precision = resolve_precision(precision, torch.device("cpu"))
    loader = DeviceLoader(sp.train_x, sp.train_y, batch, train=True, generator=torch.Generator().manual_seed(0),
                          channels_last=channels_last)
    rates = []
    for _ in range(epochs):
        t = time.perf_counter()
        train_epoch(model, loader, precision)
        rates.append(loader.samples_per_epoch / (time.perf_counter() - t))
    return rates, test_accuracy(model, sp), model


def test_accuracy(model: MorphogeneticModel, sp) -> float:
    cl = next(model.host.parameters()).is_contiguous(memory_format=torch.channels_last)
    return evaluate(model, DeviceLoader(sp.test_x, sp.test_y, 500, train=False, channels_last=cl)).accuracy


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hosts", nargs="+", default=["default", "small"])
    p.add_argument("--train-images", type=int, default=4096)
    args = p.parse_args(argv)
    if (SUBSET / "cifar-10-batches-py").is_dir():
        sp = load_splits("cifar10", train_size=args.train_images, val_size=1, test_size=1000, data_root=SUBSET)
        data = f"real CIFAR-10 subset ({args.train_images} train / 1000 test)"
    else:
        sp = load_splits("synthetic", train_size=args.train_images, val_size=1, test_size=1000)
        data = f"offline synthetic ({args.train_images} train / 1000 test)"
    bf16_units = resolve_precision("auto", torch.device("cpu")) == "bf16"
    peak32 = matmul_peak(torch.float32)
    peak16 = matmul_peak(torch.bfloat16, n=1024 if bf16_units else 256)
    m = run_metadata()
    auto = "bf16" if bf16_units else "fp32"
    print(f"machine: {m['machine']}, {m['isa']} kernels, auto precision = {auto}, torch {m['torch']}, {m['date']}")
    print(f"{torch.get_num_threads()} torch threads | {data} "
          f"| {args.epochs} epochs, first one excluded from rates")
    print(f"matmul peak: fp32 {peak32 / 1e9:.1f} GFLOP/s, bf16 {peak16 / 1e9:.1f} GFLOP/s"
          + ("" if bf16_units else " (no bfloat16 units: emulated)"))
    for host in args.hosts:
        ref_rates, ref_acc, ref_model = run_reference(host, sp, args.epochs)
        ref = statistics.median(ref_rates[1:] or ref_rates)
        flops_per_image = flops.training(ref_model)
        variants = [("env path (auto precision, channels_last)", dict())]
        variants += [("  lever: NCHW instead of channels_last", dict(channels_last=False)),
                     ("  lever: batch 512, lr x4", dict(batch=512, lr=0.2))]
        if bf16_units:
            variants += [("  lever: fp32 instead of bf16", dict(precision="fp32"))]
        print(f"\nhost {host} {host_widths(host)}: {flops_per_image / 1e6:.1f} MFLOP per training image")
        print(f"  {'path':44s} {'img/s':>8s} {'vs ref':>7s} {'test acc':>9s} {'% fp32 peak':>12s}")
        print(f"  {'reference (DataLoader, NCHW fp32, b128)':44s} {ref:8,.0f} {1.0:6.2f}x {100 * ref_acc:8.1f}% "
              f"{100 * ref * flops_per_image / peak32:11.1f}%")
        for name, kw in variants:
            rates, acc, _ = run_env_path(host, sp, args.epochs, **kw)
            r = statistics.median(rates[1:] or rates)
            share = 100 * r * flops_per_image / peak32
            print(f"  {name:44s} {r:8,.0f} {r / ref:6.2f}x {100 * acc:8.1f}% {share:11.1f}%")
        if not bf16_units:
            print("  (bf16 autocast not measured: this CPU has no bfloat16 units, where it runs 10-100x slower)")


if __name__ == "__main__":
    main()
