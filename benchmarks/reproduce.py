"""Re-run committed comparison runs from their records and check that they reproduce bit for bit.

Each record in a ``runs.jsonl`` (written by ``esper compare``) holds what determines the run: env id,
config, controller, seed, starting architecture, and (records made from 2026-12-03 on) the precision it trained
in and the CPU instruction-set level its kernels used. This script rebuilds the run from it, checks that it gets
the same cache key, plays it again in the recorded precision with the recorded kernels (one torch thread, as
``esper compare`` does) and compares the outcome, the return and the per-epoch validation accuracies exactly.

    python benchmarks/reproduce.py benchmarks/results/fast/runs.jsonl --sample 4
    python benchmarks/reproduce.py benchmarks/results/simic/compare/runs.jsonl --rows heuristic ppo --sample 2

Float results depend on the kernels torch and oneDNN pick, and those are fixed when torch is imported: so the
records are read first, the kernels they name are asked for (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``),
and only then is torch imported. A machine cannot use kernels above its own level (an AVX2 machine cannot
replay AVX-512 runs): the script then says so, and differences in the last digits are expected. Records made
before the instruction set was recorded name none: ``--kernels`` says which to use for them (the committed
results up to 2026-11-30 were made on AVX2-only CPUs, so ``--kernels AVX2``), else this machine's own are used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

COMPARED = ("episode_return", "outcome", "val_accuracy")
"""Fields of a record that must be equal for a run to count as reproduced (not dates, machines or times)."""

KERNELS = {"AVX2": dict(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2"),
           "AVX512": dict(ATEN_CPU_CAPABILITY="avx512"),
           "DEFAULT": dict(ATEN_CPU_CAPABILITY="default", ONEDNN_MAX_CPU_ISA="SSE41")}
"""A recorded instruction-set level -> the environment variables that ask torch and oneDNN for its kernels."""


def kernel_settings(isa: str | None) -> dict[str, str]:
    """The environment variables that select the kernels a record names (``AVX2``, ``AVX512 (oneDNN AVX2)``...);
    empty for a record that names none."""
    if not isa:
        return {}
    level, _, onednn = isa.partition(" (oneDNN ")
    if level not in KERNELS:
        raise ValueError(f"unknown instruction-set level {isa!r} in a record; known: {', '.join(KERNELS)}")
    settings = dict(KERNELS[level])
    if onednn:
        settings["ONEDNN_MAX_CPU_ISA"] = onednn.rstrip(")")
    return settings


def reproduce(record: dict, rows: dict[str, str] | None = None) -> list[str]:
    """Differences between ``record`` and a fresh run of it (empty when it reproduces bit for bit)."""
    from lab.compare import run_one
    from lab.compare.plan import spec_of

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
    p.add_argument("--kernels", choices=sorted(KERNELS), default=None,
                   help="kernels for records that do not name theirs (made before 2026-12-03); default: this "
                        "machine's own")
    args = p.parse_args(argv)
    if not args.runs.is_file():
        p.error(f"no file {args.runs}; give a runs.jsonl written by esper compare")
    records = [json.loads(line) for line in args.runs.read_text().splitlines() if line.strip()]
    if args.rows:
        records = [r for r in records if r["row"] in args.rows]
    if not records:
        p.error(f"{args.runs} has no runs" + (f" in rows {args.rows}" if args.rows else ""))
    chosen = random.Random(args.seed).sample(records, min(args.sample, len(records)))
    levels = {r.get("isa") or args.kernels for r in chosen}
    if len(levels) > 1:
        p.error(f"the chosen runs were made with different kernels ({sorted(map(str, levels))}); one process uses "
                "one set: choose runs of one kind with --rows or --sample")
    level = levels.pop()
    asked = kernel_settings(level)
    if "torch" in sys.modules and asked:
        print(f"torch is already imported: the recorded kernels ({level}) cannot be selected; this process's stay")
    for k, v in asked.items():  # only here: imported, this module must not change its importer's kernels
        os.environ[k] = v

    from lab.compare.plan import named_rows
    from lab.records import isa_level

    here = isa_level()
    print(f"recorded kernels {level or 'not recorded (this machine’s own are used)'}; using {here}"
          + (" -- this machine cannot use the recorded ones, so the last digits may differ"
             if level and here != level else ""))
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
