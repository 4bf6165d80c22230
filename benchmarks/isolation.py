"""Does isolated training prepare a seed for blending? Prints, per blueprint:

* the seed's shadow-pass objective (cross-entropy) over its isolation epochs -- it should fall;
* the host's val accuracy after blending in the isolation-trained seed, versus blending in an untrained
  seed of the same blueprint and initialisation (same host state, same data order, same blend epochs).

    python benchmarks/isolation.py [--blueprints conv_residual lowrank] [--host-epochs 6] [--seed-epochs 4]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from esper_env.config import PRESETS
from esper_env.data import DeviceLoader, load_splits
from esper_env.kasmina import MorphogeneticModel, host_widths
from esper_env.leyline import Command
from esper_env.training import autocast, cosine_lr, evaluate, resolve_precision, train_epoch
from lab.options import parse_args


def shadow_epoch(model, loader, precision) -> float:
    """Train only the TRAINING seed for one epoch (the host trains too, as in the env); mean shadow loss."""
    model.train()
    total, n = 0.0, 0
    for x, y in loader:
        with autocast(loader.device, precision):
            logits, shadows = model.forward_train(x)
            shadow = F.cross_entropy(shadows[0].float(), y)
            loss = F.cross_entropy(logits.float(), y) + shadow
        model.optimizer.zero_grad()
        loss.backward()
        model.optimizer.step()
        total, n = total + shadow.item() * len(y), n + len(y)
    return total / n


@dataclass
class Args:
    blueprints: tuple[str, ...] = ("conv_residual", "depthwise", "lowrank", "attention", "norm")
    """Blueprints to grow, one run each."""
    slot: int = 1
    """The slot (after host block 0, 1 or 2)."""
    host_epochs: int = 6
    """Host-only epochs before germination."""
    seed_epochs: int = 4
    """Isolation epochs (>= 2: a seed is GERMINATED for its first epoch, and only a TRAINING seed is blended)."""
    blend_epochs: int = 2
    """Blending epochs."""
    train_size: int = PRESETS["synthetic"].train_size
    """Training images (default: Esper-Synthetic-v0's)."""
    val_size: int = PRESETS["synthetic"].val_size
    """Validation images (default: Esper-Synthetic-v0's)."""


def main(argv: list[str] | None = None) -> None:
    args = parse_args(Args, argv, __doc__)
    cfg = PRESETS["synthetic"]  # Esper-Synthetic-v0's data, host and learning rate
    if args.seed_epochs < 2:
        raise SystemExit("isolation.py: error: --seed-epochs must be >= 2: a seed is GERMINATED for its first "
                         "epoch, and only a TRAINING seed can be blended in")
    sp = load_splits("synthetic", train_size=args.train_size, val_size=args.val_size, test_size=cfg.test_size)
    precision = resolve_precision("auto", torch.device("cpu"))
    val = DeviceLoader(sp.val_x, sp.val_y, 500, train=False)
    total_epochs = args.host_epochs + args.seed_epochs + args.blend_epochs

    def set_lr(model, epoch):  # one cosine schedule over the whole run, for host and seed alike
        for g in model.optimizer.param_groups:
            g["lr"] = cosine_lr(cfg.lr, epoch, total_epochs)

    def loader(seed):
        return DeviceLoader(sp.train_x, sp.train_y, cfg.batch_size, train=True,
                            generator=torch.Generator().manual_seed(seed))

    base = MorphogeneticModel(host_widths(cfg.host), blend_epochs=args.blend_epochs, lr=cfg.lr, init_seed=0)
    base = base.to(memory_format=torch.channels_last)
    train = loader(0)
    for e in range(args.host_epochs):
        set_lr(base, e)
        train_epoch(base, train, precision)
    print(f"host after {args.host_epochs} epochs: val {100 * evaluate(base, val, precision).accuracy:.1f}%")
    print(f"{'blueprint':14s} {'shadow loss per isolation epoch':40s} {'blend trained':>14s} {'blend untrained':>16s}"
          f" {'no seed':>8s}")
    for bp in args.blueprints:
        results = {}
        for mode in ("trained", "untrained", "none"):
            model = copy.deepcopy(base)
            train = loader(1)
            losses = []
            if mode != "none":
                model.apply(Command.germinate(args.slot, bp), init_seed=123)
            for e in range(args.seed_epochs):
                model.start_epoch()  # the lifecycle clock, as the env runs it: GERMINATED -> TRAINING after one epoch
                set_lr(model, args.host_epochs + e)
                if mode == "trained":
                    losses.append(shadow_epoch(model, train, precision))
                elif mode == "untrained":  # the host trains the same epochs; the seed is frozen at init
                    for p in model.slots[args.slot].seed.parameters():
                        p.requires_grad_(False)
                    train_epoch(model, train, precision)
                    for p in model.slots[args.slot].seed.parameters():
                        p.requires_grad_(True)
                else:
                    train_epoch(model, train, precision)
                model.end_epoch()
            if mode != "none":
                model.apply(Command.advance(args.slot))
            for e in range(args.blend_epochs):
                model.start_epoch()
                set_lr(model, args.host_epochs + args.seed_epochs + e)
                train_epoch(model, train, precision)
                model.end_epoch()
            results[mode] = evaluate(model, val, precision).accuracy
            if mode == "trained":
                shadow = " ".join(f"{x:.3f}" for x in losses)
        print(f"{bp:14s} {shadow:40s} {100 * results['trained']:13.1f}% {100 * results['untrained']:15.1f}% "
              f"{100 * results['none']:7.1f}%")


if __name__ == "__main__":
    main()
