"""Is the offline synthetic dataset a fair stand-in for growth experiments? Prints three numbers:

1. logistic regression on raw pixels (must be < 40%: not linearly separable),
2. the default host at the Esper-Synthetic-v0 budget (must be < 90%: not saturated),
3. a 4x wider host at the same budget (must be >= 5 points above 2: capacity headroom).

    python benchmarks/synthetic_difficulty.py [--seeds 0 1] [--epochs 20]
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from esper_env.config import PRESETS
from esper_env.data import DeviceLoader, load_splits
from esper_env.kasmina import MorphogeneticModel, host_widths
from esper_env.training import cosine_lr, evaluate, resolve_precision, train_epoch
from lab.options import parse_args


def logistic_regression(sp, epochs: int = 200) -> float:
    """Full-batch multinomial logistic regression (L-BFGS) on standardised raw pixels."""
    x = sp.train_x.flatten(1).float() / 255
    mu, sd = x.mean(0), x.std(0) + 1e-6
    x = (x - mu) / sd
    xt = (sp.test_x.flatten(1).float() / 255 - mu) / sd
    lin = torch.nn.Linear(x.shape[1], 10)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=epochs, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lin(x), sp.train_y) + 1e-3 * lin.weight.square().sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        return (lin(xt).argmax(1) == sp.test_y).float().mean().item()


def train_host(sp, width: float, epochs: int, seed: int, cfg: dict) -> float:
    g = torch.Generator().manual_seed(seed)
    precision = resolve_precision("auto", torch.device("cpu"))
    train = DeviceLoader(sp.train_x, sp.train_y, cfg["batch_size"], train=True, generator=g)
    test = DeviceLoader(sp.test_x, sp.test_y, 500, train=False)
    model = MorphogeneticModel(host_widths(cfg["host"], width), lr=cfg["lr"], init_seed=seed)
    model = model.to(memory_format=torch.channels_last)
    for epoch in range(epochs):
        for group in model.optimizer.param_groups:
            group["lr"] = cosine_lr(cfg["lr"], epoch, epochs)
        train_epoch(model, train, precision)
    return evaluate(model, test, precision).accuracy


@dataclass
class Args:
    seeds: tuple[int, ...] = (0, 1)
    """Training seeds of the hosts."""
    epochs: int = PRESETS["synthetic"].max_epochs
    """Epochs (default: Esper-Synthetic-v0's)."""
    host: str = PRESETS["synthetic"].host
    """Host preset (default: the env's)."""
    train_size: int = PRESETS["synthetic"].train_size
    """Training images."""
    test_size: int = PRESETS["synthetic"].test_size
    """Test images."""
    widths: tuple[float, ...] = (1.0, 4.0)
    """Width multipliers to train."""


def main(argv: list[str] | None = None) -> None:
    cfg = PRESETS["synthetic"].to_dict()  # Esper-Synthetic-v0's sizes, host, epochs and learning rate
    args = parse_args(Args, argv, __doc__)
    cfg.update(host=args.host, train_size=args.train_size, test_size=args.test_size)
    sp = load_splits("synthetic", train_size=cfg["train_size"], val_size=cfg["val_size"],
                     test_size=cfg["test_size"])
    print(f"synthetic: train {len(sp.train_x)}, test {len(sp.test_x)}, {args.epochs} epochs, "
          f"host preset {cfg['host']!r}, seeds {args.seeds}")
    print(f"logistic regression on raw pixels: {100 * logistic_regression(sp):.1f}% test accuracy")
    for width in args.widths:
        accs, t = [], time.time()
        for seed in args.seeds:
            accs.append(train_host(sp, width, args.epochs, seed, cfg))
        a = 100 * np.array(accs)
        print(f"host width x{width:g} ({host_widths(cfg['host'], width)}): {a.mean():.1f}% "
              f"(per seed {', '.join(f'{v:.1f}' for v in a)}; {time.time() - t:.0f}s)")


if __name__ == "__main__":
    main()
