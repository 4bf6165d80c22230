"""Re-run committed comparison runs from their records and check that they reproduce bit for bit.

Each record in a ``runs.jsonl`` (written by ``esper compare``) holds what determines the run: env id,
config, controller, seed and starting architecture. This script rebuilds the run from it, checks that it
gets the same cache key, plays it again (one torch thread, as ``esper compare`` does) and compares the
outcome, the return and the per-epoch validation accuracies exactly.

    python benchmarks/reproduce.py benchmarks/results/fast/runs.jsonl --sample 4
    python benchmarks/reproduce.py benchmarks/results/simic/compare/runs.jsonl --rows heuristic ppo --sample 2
"""

from __future__ import annotations

import os

# The committed results were made on CPUs with AVX2 and no bfloat16 units. Float results depend on the
# kernels torch and oneDNN pick, so the same kernels are asked for here (before torch is imported); on such a
# CPU this changes nothing. ``ESPER_NATIVE_ISA=1`` keeps this machine's own (results then differ in the
# last digits wherever the machine has AVX-512 or bfloat16 units: "auto" precision picks bf16 there). Only when
# run as a script: imported, it must not change the kernels of the importing process's later worker processes.
if __name__ == "__main__" and os.environ.get("ESPER_NATIVE_ISA") != "1":
    os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from agents.compare import run_one  # noqa: E402
from agents.compare.plan import named_rows, spec_of  # noqa: E402

COMPARED = ("episode_return", "outcome", "val_accuracy")
"""Fields of a record that must be equal for a run to count as reproduced (not dates, machines or times)."""


def reproduce(record: dict, rows: dict[str, str] | None = None) -> list[str]:
    """Differences between ``record`` and a fresh run of it (empty when it reproduces bit for bit)."""
    spec = spec_of(record, rows)
    if spec.key != record["key"]:
        return [f"cache key {spec.key} differs from the recorded {record['key']}"]
    fresh = run_one(spec).to_dict()
    out = []
    for name in COMPARED:
        if json.dumps(fresh[name]) == json.dumps(record[name]):
            continue
        if name == "outcome":
            out += [f"outcome.{k}: {record[name][k]} recorded, {v} now" for k, v in fresh[name].items()
                    if json.dumps(v) != json.dumps(record[name].get(k))]
        else:
            out.append(f"{name} differs")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="a runs.jsonl written by esper compare")
    p.add_argument("--rows", nargs="+", default=None, help="only these rows (default: all)")
    p.add_argument("--sample", type=int, default=3, help="how many runs to re-run, drawn at random (default 3)")
    p.add_argument("--seed", type=int, default=0, help="which sample")
    args = p.parse_args(argv)
    records = [json.loads(line) for line in args.runs.read_text().splitlines() if line.strip()]
    if args.rows:
        records = [r for r in records if r["row"] in args.rows]
    if not records:
        p.error(f"{args.runs} has no runs" + (f" in rows {args.rows}" if args.rows else ""))
    chosen = random.Random(args.seed).sample(records, min(args.sample, len(records)))
    failed = 0
    rows = named_rows(args.runs.parent / "table.md")
    for r in chosen:
        diff = reproduce(r, rows)
        failed += bool(diff)
        print(f"{r['row']:<20} seed {r['seed']:<4} key {r['key']}  "
              + ("reproduced bit for bit" if not diff else "NOT reproduced: " + "; ".join(diff)), flush=True)
    print(f"{len(chosen) - failed} of {len(chosen)} runs reproduced")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
