"""Size and time of an env snapshot of the default host (32-64-128) with a seed in every stage that holds one.

    python benchmarks/perf/snapshot.py [--repeats 20]

The snapshot holds no images (the split is rebuilt from its seed), so its size depends on the model and
optimizer only; the data size here is kept small so the set-up is quick.
"""

from __future__ import annotations

import argparse
import pickle
import platform
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import esper_env  # noqa: F401 (registers the ids)
from esper_env import load_snapshot, save_snapshot
from esper_env.leyline import Command


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    env = gym.make("Esper-Synthetic-v0", host="default", train_size=1024, val_size=256, test_size=256, max_epochs=8)
    c = env.unwrapped.codec
    env.reset(seed=0)
    for cmd in [Command.germinate(0, "conv_residual"), Command.germinate(1, "depthwise"), Command.advance(0),
                Command.germinate(2, "conv_residual")]:
        env.step(c.encode(cmd))
    stages = [s.stage.name for s in env.unwrapped.report.slots]
    model = env.unwrapped.model
    t_snap, snap = timed(env.unwrapped.snapshot, args.repeats)
    t_restore, _ = timed(lambda: env.unwrapped.restore(snap), args.repeats)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "snap.pt"
        t_save, _ = timed(lambda: save_snapshot(path, snap), args.repeats)
        t_load, _ = timed(lambda: load_snapshot(path), args.repeats)
        size = path.stat().st_size
    print(f"machine: {platform.machine()} {platform.processor()} | default host, slots {stages}")
    print(f"parameters: {model.total_params:,} (host {model.host_params:,}) | pickled snapshot "
          f"{len(pickle.dumps(snap)) / 2**20:.2f} MiB | file {size / 2**20:.2f} MiB")
    print(f"median of {args.repeats}: snapshot() {1e3 * t_snap:.1f} ms | restore() {1e3 * t_restore:.1f} ms | "
          f"save_snapshot {1e3 * t_save:.1f} ms | load_snapshot {1e3 * t_load:.1f} ms")


if __name__ == "__main__":
    main()
